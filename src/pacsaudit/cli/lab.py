"""``pacsaudit lab``: the built-in lab of real servers with synthetic patients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pacsaudit.cli.common import err_console, fail


def lab_up(
    state_dir: Annotated[
        Path | None, typer.Option(help="Where the lab keeps configs, data and pids.")
    ] = None,
    port_base: Annotated[
        int, typer.Option(help="0: the usual DICOM ports; else ports from this number up.")
    ] = 0,
) -> None:
    """Start the lab's servers on loopback, loaded with synthetic patients."""
    from rich.console import Console

    from pacsaudit.lab.manager import default_state_dir
    from pacsaudit.lab.manager import lab_up as up
    from pacsaudit.lab.services import LabError

    try:
        info = up(state_dir or default_state_dir(), port_base=port_base, console=err_console())
    except LabError as exc:
        raise fail(str(exc)) from None
    info.print(Console())


def lab_down(
    state_dir: Annotated[Path | None, typer.Option(help="The lab's state folder.")] = None,
) -> None:
    """Stop every lab server and remove the lab's temporary files."""
    from pacsaudit.lab.manager import default_state_dir
    from pacsaudit.lab.manager import lab_down as down

    down(state_dir or default_state_dir(), console=err_console())


def lab_status(
    state_dir: Annotated[Path | None, typer.Option(help="The lab's state folder.")] = None,
) -> None:
    """Show what the lab runs and where."""
    from rich.console import Console

    from pacsaudit.lab.manager import default_state_dir, load_info
    from pacsaudit.lab.services import LabError

    try:
        info = load_info(state_dir or default_state_dir())
    except LabError as exc:
        raise fail(str(exc)) from None
    info.print(Console())


def lab_demo(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where the findings go (JSON Lines).")
    ] = Path("out/demo/findings.jsonl"),
    state_dir: Annotated[Path | None, typer.Option(help="The lab's state folder.")] = None,
    port_base: Annotated[
        int, typer.Option(help="0: the usual DICOM ports; else ports from this number up.")
    ] = 0,
) -> None:
    """Start the lab, scan it, print the findings, stop the lab."""
    from pacsaudit.lab.demo import run_demo
    from pacsaudit.lab.manager import default_state_dir
    from pacsaudit.lab.services import LabError

    try:
        ok = run_demo(
            state_dir or default_state_dir(), output, port_base=port_base, console=err_console()
        )
    except LabError as exc:
        raise fail(str(exc)) from None
    if not ok:
        raise typer.Exit(1)
