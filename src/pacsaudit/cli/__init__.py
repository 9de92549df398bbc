"""The ``pacsaudit`` command: subcommands that collect options and call the library; no logic.

Each subcommand lives in a module of its own and is registered here, explicitly; the modules
import the library only inside the command that needs it, so ``pacsaudit scan`` never loads
the report, lab or de-identification code (start-up is most of a small scan's wall clock).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

# The collector is paused while the CLI's modules load, and what they made is frozen after:
# ~22,000 objects (modules, classes, functions) that live as long as the process; the ~55
# collections they would trigger, and every later one, could free none of them.
# (gc.unfreeze() hands them back to the collector.)
_COLLECTING = gc.isenabled()
gc.disable()
try:
    import typer

    from pacsaudit import __version__
    from pacsaudit.cli import files, lab, reports, scan
finally:
    gc.freeze()
    if _COLLECTING:
        gc.enable()

_APP_SETTINGS: dict[str, Any] = {
    "name": "pacsaudit",
    "help": "Find medical-imaging systems that expose patient data, measure the exposure "
    "without keeping PHI, and help fix it.",
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
}
app = typer.Typer(**_APP_SETTINGS)
lab_app = typer.Typer(help="The built-in local lab: real DICOM servers with synthetic patients.")
app.add_typer(lab_app, name="lab")

app.command()(scan.scan)
app.command()(files.inspect)
app.command()(files.deid)
app.command("report")(reports.report_command)
app.command("notify")(reports.notify_command)
app.command("diff")(reports.diff_command)
lab_app.command("up")(lab.lab_up)
lab_app.command("down")(lab.lab_down)
lab_app.command("status")(lab.lab_status)
lab_app.command("demo")(lab.lab_demo)


@app.command()
def version() -> None:
    """Print pacsaudit's version."""
    print(__version__)


COMMANDS: dict[str, Callable[..., None]] = {
    "scan": scan.scan,
    "inspect": files.inspect,
    "deid": files.deid,
    "report": reports.report_command,
    "notify": reports.notify_command,
    "diff": reports.diff_command,
    "version": version,
}
"""The top-level commands of :data:`app` by name (``lab`` is a group of its own)."""


def app_for(args: list[str]) -> typer.Typer:
    """The app to run for these arguments: when the first one names a command, an app that
    holds only that command, else the whole :data:`app` (its help, the lab group, the
    suggestions for a mistyped name). Typer builds a click command for every function it
    holds before it parses anything, and a run uses one; the command's own help, usage line,
    options and errors are the same in both (a test compares them)."""
    function = COMMANDS.get(args[0]) if args else None
    if function is None:
        return app
    single = typer.Typer(**_APP_SETTINGS)
    single.callback()(_group)  # a group, as the whole app is: the first argument names the command
    single.command(args[0])(function)
    return single


def _group() -> None:
    pass


def main() -> None:
    """The console script. What the command leaves lives until the process ends: frozen, so
    the interpreter's collections at exit do not traverse it (the findings a scan keeps for its
    summary, the modules it loaded)."""
    try:
        app_for(sys.argv[1:])()
    finally:
        gc.freeze()
