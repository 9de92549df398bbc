"""Writing the records of ``inspect`` and ``deid`` to ``-o``, and their progress bar.

JSON Lines files are written whole under a temporary name and renamed into place, so an
interrupted run never leaves a torn report; ``-o`` is checked before the first file is read.
Records are any msgspec structs: each command owns its own record types.
"""

from __future__ import annotations

import enum
import errno
import io
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pacsaudit.files.read import describe_os_error
from pacsaudit.paths import check_creatable
from pacsaudit.peertext import visible
from pacsaudit.usage import UsageError

if TYPE_CHECKING:
    from rich.console import Console

_encoder = msgspec.json.Encoder()


def encode_line(record: msgspec.Struct) -> bytes:
    """One JSON line, newline included."""
    return _encoder.encode(record) + b"\n"


def unlisted_warnings(folders: list[tuple[str, str]], verb: str) -> list[str]:
    """One line per folder that could not be listed (inspect and deid alike)."""
    return [f"{path}: {message}; the files in it were not {verb}" for path, message in folders]


class OutputMode(enum.Enum):
    """How the records reach ``-o``; chosen before the run, so a bad ``-o`` costs nothing."""

    STDOUT = "stdout"
    REPLACE = "replace"
    """Written whole under a temporary name, then renamed over the target."""
    APPEND = "append"
    """Added after what the file holds (a resumed deid); cut back if the write fails."""
    STREAM = "stream"
    """A device or pipe (``/dev/stdout``, ``>(gzip)``): written to directly, never renamed over."""


@dataclass(frozen=True)
class RecordsOutput:
    """Where ``-o`` puts the JSON Lines, checked before any work is done."""

    path: Path | None
    mode: OutputMode

    @classmethod
    def check(
        cls,
        path: Path | None,
        *,
        protected: Sequence[Path],
        overwrite: bool,
        may_append: Callable[[Path], bool] | None = None,
    ) -> RecordsOutput:
        """Refuse an ``-o`` that would destroy something: an input (or a file inside one), a
        folder, a non-empty file without ``--overwrite``; refuse one that cannot be written.

        ``may_append`` says whether a non-empty file is this command's own earlier output,
        to be continued rather than replaced.
        """
        if path is None:
            return cls(None, OutputMode.STDOUT)
        _refuse_protected(path, protected)
        try:
            info = path.stat()
        except FileNotFoundError:
            check_creatable(path)
            return cls(path, OutputMode.REPLACE)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {describe_os_error(exc)}") from None
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"-o {path} is a folder: give the name of a file")
        if not stat.S_ISREG(info.st_mode):
            return cls(path, OutputMode.STREAM)
        if info.st_size == 0 or overwrite:
            mode = OutputMode.REPLACE
        elif may_append is not None and may_append(path):
            mode = OutputMode.APPEND
        else:
            raise UsageError(
                f"{path} already exists: pass --overwrite to replace it, or choose another file"
            )
        writable = (
            os.access(path, os.W_OK)
            if mode is OutputMode.APPEND
            else os.access(path.parent, os.W_OK | os.X_OK)  # a temporary file goes beside it
        )
        if not writable:
            raise UsageError(f"cannot write {path}: permission denied")
        return cls(path, mode)

    def write(self, records: Iterable[msgspec.Struct]) -> None:
        """Write every record, one per line; a failure (a full disk) is a UsageError that names
        the file, and never leaves a torn line behind in a regular file."""
        data = b"".join(encode_line(r) for r in records)
        if self.path is None:
            _write_stdout(data)
            return
        try:
            if self.mode is OutputMode.STREAM:
                _write_stream(self.path, data)
            elif self.mode is OutputMode.APPEND:
                _append(self.path, data)
            else:
                _replace(self.path, data)
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {describe_os_error(exc)}") from None


def _refuse_protected(path: Path, protected: Sequence[Path]) -> None:
    """An input, or anything inside one, is never an output."""
    try:
        target = path.resolve()
        for root in protected:
            inside = target.is_relative_to(root.resolve())
            if inside or (path.exists() and root.exists() and path.samefile(root)):
                raise UsageError(
                    f"-o {path} lies inside {root}: write the records outside the files "
                    "inspected or de-identified"
                )
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable folder
        raise UsageError(f"cannot check -o {path}: {exc.__class__.__name__}") from None


def _write_all(fd: int, data: bytes) -> None:
    """Every byte or an OSError: a short write (a file-size limit, a full disk) is retried,
    so the error that follows it is raised instead of the data being cut silently."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        if done == 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view = view[done:]


def _write_stdout(data: bytes) -> None:
    try:
        sys.stdout.flush()
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):  # replaced (tests)
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        _write_all(fd, data)  # BufferedWriter reports a short write as success
    except OSError as exc:
        # Python flushes stdout again at exit and would print a traceback-like complaint:
        # point the descriptor at /dev/null so the one clear error line stays the only one.
        _silence_stdout()
        reason = describe_os_error(exc)
        raise UsageError(f"cannot write the records to standard output: {reason}") from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        pass  # not a real descriptor: nothing will complain at exit


def _write_stream(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        start = os.fstat(fd).st_size
        try:
            _write_all(fd, data)
        except OSError:
            os.ftruncate(fd, start)  # what was there stays as it was
            raise
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def warn(console: Console, message: str) -> None:
    """One warning line; the message is data (a folder may be named ``[red]`` or hold an escape
    sequence): never read as markup, its control characters made visible."""
    from rich.text import Text

    line = Text.assemble(("warning:", "yellow"), " ", visible(message))
    console.print(line, highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(console: Console | None, label: str) -> Iterator[tuple[object, object]]:
    """Callbacks (on_total, on_file) that drive a progress bar, or do nothing when quiet."""
    if console is None:
        yield (None, None)
        return
    # imported here: a quiet run draws no bar (rich.progress is ~6 ms of start-up)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def on_total(n: int) -> None:
            progress.update(task, total=n)

        def on_file(_size: int) -> None:
            progress.advance(task)

        yield (on_total, on_file)
