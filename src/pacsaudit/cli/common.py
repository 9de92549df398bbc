"""What every subcommand shares: the console on standard error, exit codes, one-line errors."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pacsaudit.paths import check_creatable
from pacsaudit.usage import UsageError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_USAGE = 2
EXIT_SEVERITY = 3
EXIT_INTERRUPTED = 130


@functools.cache
def err_console() -> Console:
    """The console on standard error, made on first use (a quiet scan never prints)."""
    from rich.console import Console

    # Outside a terminal (CI logs, pipes) rich would wrap tables at 80 columns; logs take 200.
    return Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def say(message: str, label: str = "", style: str = "") -> None:
    """One line on stderr (never wrapped: logs and scripts grep it). ``message`` is data — it
    may hold file names, targets or peer text — so it is shown literally, never read as rich
    markup, and its control characters are made visible; only ``label`` is styled."""
    from rich.text import Text

    from pacsaudit.peertext import visible

    line = Text.assemble((f"{label}:", style), " ") if label else Text()
    line.append(visible(message))
    err_console().print(line, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """One error line on stderr and the usage exit code."""
    say(message, "error", "bold red")
    return typer.Exit(EXIT_USAGE)


def warn_line(message: str) -> None:
    """A warning whose text may quote a file or a peer: printed as data, never as markup."""
    say(message, "warning", "yellow")


def log_to_stderr(level: int) -> None:
    """Log lines on stderr, each passed through :func:`pacsaudit.peertext.visible`: libraries
    log what peers send (a reason phrase, a banner) and a log line must not steer a terminal."""
    from pacsaudit.peertext import VisibleFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(VisibleFormatter(logging.BASIC_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def log_level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise fail(f"--log-level {name!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def check_output(output: Path | None, *, resume: bool, overwrite: bool) -> None:
    """Refuse, before any packet, an output that would lose findings or cannot be written:
    a scan never truncates an earlier scan's results unless told to (``--overwrite``)."""
    if output is None:
        return
    if output.is_dir():
        raise fail(f"-o {output} is a folder: give a file name")
    if output.exists() and not output.is_file():
        return  # a device or a pipe (/dev/stdout): nothing there to lose
    if not resume and not overwrite and output.is_file() and output.stat().st_size > 0:
        raise fail(
            f"{output} exists and holds results: choose another -o, add --resume to continue "
            "an interrupted scan, or --overwrite to replace it"
        )
    try:
        check_creatable(output)
    except UsageError as exc:
        raise fail(str(exc)) from None
