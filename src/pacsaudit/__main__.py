from pacsaudit.cli import main

main()
