"""The ``pacsaudit`` command: subcommands that collect options and call the library; no logic.

Each subcommand lives in a module of its own, named here by its path and imported only when
it runs: ``pacsaudit deid`` loads neither the scanner's options (and the probe catalogue behind
them) nor the report or lab code. The whole :data:`app`, every command in it, is built only
for what needs all of them (the top-level help, the lab group, a mistyped name); the modules
import the library only inside the command that needs it (start-up is most of a small job's
wall clock).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import sys
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def _loading() -> Iterator[None]:
    """Modules imported inside are frozen after: the collector is paused while they load.

    They make ~22,000 objects (modules, classes, functions) that live as long as the process;
    the ~55 collections they would trigger, and every later one, could free none of them.
    (gc.unfreeze() hands them back to the collector.)"""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


with _loading():
    import typer

    from pacsaudit import __version__

_APP_SETTINGS: dict[str, Any] = {
    "name": "pacsaudit",
    "help": "Find medical-imaging systems that expose patient data, measure the exposure "
    "without keeping PHI, and help fix it.",
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
}


def version() -> None:
    """Print pacsaudit's version."""
    print(__version__)


COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("pacsaudit.cli.scan", "scan"),
    "inspect": ("pacsaudit.cli.files", "inspect"),
    "deid": ("pacsaudit.cli.files", "deid"),
    "report": ("pacsaudit.cli.reports", "report_command"),
    "notify": ("pacsaudit.cli.reports", "notify_command"),
    "diff": ("pacsaudit.cli.reports", "diff_command"),
    "version": (__name__, "version"),
}
"""The top-level commands of :data:`app` by name, in its order, each as (module, function):
imported by :func:`command` when it runs (``lab`` is a group of its own)."""

LAB_COMMANDS: dict[str, str] = {
    "up": "lab_up",
    "down": "lab_down",
    "status": "lab_status",
    "demo": "lab_demo",
}
"""The commands of the ``lab`` group, functions of :mod:`pacsaudit.cli.lab`."""


def command(name: str) -> Callable[..., None]:
    """The function of the top-level command ``name``, its module imported now."""
    module, function = COMMANDS[name]
    with _loading():
        found: Callable[..., None] = getattr(importlib.import_module(module), function)
    return found


@functools.cache
def _whole_app() -> typer.Typer:
    """Every command and the lab group: what ``pacsaudit --help`` lists."""
    whole = typer.Typer(**_APP_SETTINGS)
    lab_app = typer.Typer(
        help="The built-in local lab: real DICOM servers with synthetic patients."
    )
    whole.add_typer(lab_app, name="lab")
    for name in COMMANDS:
        whole.command(name)(command(name))
    with _loading():
        from pacsaudit.cli import lab
    for name, function in LAB_COMMANDS.items():
        lab_app.command(name)(getattr(lab, function))
    return whole


def __getattr__(name: str) -> typer.Typer:
    """:data:`app`, the whole app, built on first use (``from pacsaudit.cli import app``)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _whole_app()


def app_for(args: list[str]) -> typer.Typer:
    """The app to run for these arguments: when the first one names a command, an app that
    holds only that command (its module alone imported), else the whole :data:`app` (its
    help, the lab group, the suggestions for a mistyped name). Typer builds a click command
    for every function it holds before it parses anything, and a run uses one; the command's
    own help, usage line, options and errors are the same in both (a test compares them)."""
    name = args[0] if args else None
    if name not in COMMANDS:
        return _whole_app()
    single = typer.Typer(**_APP_SETTINGS)
    single.callback()(_group)  # a group, as the whole app is: the first argument names the command
    single.command(name)(command(name))
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
