"""Findings to disk in checkpointed batches: the output file, the recorder, one shard's run.

Findings are encoded as JSON lines as they come and handed on in *batches*, every
``interval`` seconds or ``flush_bytes``, each with the shard's progress at that instant (the
source's position and the positions still pending). :class:`Recorder` writes a batch in the
order :mod:`pacsaudit.engine.state` explains (journal first, output second); on a cluster the
batches travel from the workers to the one process that holds the output and the state
(:mod:`pacsaudit.engine.cluster`), and are recorded the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from pacsaudit.contract import MultiProbe, Probe
from pacsaudit.engine.jobs import ShardedTargets
from pacsaudit.engine.options import EngineOptions, ScanStats
from pacsaudit.engine.sources import PositionedSource
from pacsaudit.engine.state import ScanState, StateError
from pacsaudit.engine.sweep import Sweep
from pacsaudit.model import Finding, Status
from pacsaudit.targets.spec import Target

CHECKPOINT_INTERVAL = 0.5
"""Seconds between checkpoints: the most work a crash can make the scan repeat."""
CHECKPOINT_FINDINGS = 16_384
"""A batch is written early when it holds this many findings (closed and filtered ports, a
few hundred bytes each: a few MB at most)."""
CHECKPOINT_SERVICES = 512
"""…or this many findings with a service's facts (an open DICOM service at exposure depth is
about 3 KB of JSON): 16,384 of those would be a 48 MB batch, held in memory, sent and
journalled at once — and the last batch, recorded after the last probe, is the scan's tail
(512: about 25 ms less wall time on a 4,096-host sweep, 6 alternating runs)."""
_SILENT = frozenset({Status.CLOSED, Status.FILTERED})
_encoder = msgspec.json.Encoder()


class OutputFile:
    """The JSON Lines output, only ever appended to in whole batches (or standard output)."""

    def __init__(self, path: Path | None, *, fd: int | None = None, size: int = 0) -> None:
        self.path = path
        if fd is not None:
            self._fd, self._owns = fd, True
        elif path is None:
            self._fd, self._owns = sys.stdout.fileno(), False
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
            self._fd, self._owns = os.open(path, flags, 0o644), True
        self.size = size
        self._dirty = False

    @classmethod
    def resume(cls, path: Path, state: ScanState) -> OutputFile:
        """Reopen the output of an interrupted scan, made to agree with its state.

        The output may end inside the last journalled batch (killed while writing it): the
        rest of the batch is written, which completes any torn line. Anything else — a shorter
        file, bytes the state does not know, a batch that differs — means the file was changed
        by someone else, and is refused without touching it.
        """
        committed = state.output_length
        journal = state.journal()
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | (os.O_CREAT if committed == 0 else 0))
        except OSError as exc:
            raise StateError(
                f"cannot reopen the output {path} to resume: {exc.strerror or exc}"
            ) from None
        try:
            size = os.fstat(fd).st_size
            start, data = journal if journal is not None else (committed, b"")
            if start + len(data) != committed:
                raise StateError(f"scan state {state.path} is damaged: journal and length differ")
            if size < start:
                raise StateError(
                    f"{path} is shorter ({size:,} bytes) than its scan state records "
                    f"({start:,}): it was cut or replaced; not resuming"
                )
            if size > committed:
                raise StateError(
                    f"{path} holds {size - committed:,} bytes its scan state does not account "
                    "for (another process wrote to it?); not resuming"
                )
            if start > 0 and os.pread(fd, 1, start - 1) != b"\n":
                raise StateError(f"{path} does not end with a whole line where its state says")
            present = os.pread(fd, size - start, start) if size > start else b""
            if present != data[: len(present)]:
                raise StateError(
                    f"{path} differs from the batch its scan state journalled; not resuming"
                )
            output = cls(path, fd=fd, size=size)
            output.append(data[len(present) :])
        except BaseException:
            os.close(fd)
            raise
        return output

    def append(self, data: bytes) -> None:
        """Write one batch whole, or leave the file as it was: a full disk must not leave a
        torn last line (a regular file is cut back to where the batch began)."""
        if not data:
            return
        before = self._regular_size()
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError:
            if before is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, before)
            raise
        self.size += len(data)
        self._dirty = True

    def _regular_size(self) -> int | None:
        """The file's size before a write, when it is a regular file (a pipe cannot be cut)."""
        try:
            info = os.fstat(self._fd)
        except OSError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def sync(self) -> None:
        """Make what was appended durable (regular files only; a pipe has nothing to sync)."""
        if self._dirty and self._owns:
            os.fdatasync(self._fd)
        self._dirty = False

    def close(self) -> None:
        if self._owns:
            os.close(self._fd)
            self._owns = False


class Recorder:
    """Writes batches to the output in the journal-first order (with a state) or directly."""

    def __init__(self, output: OutputFile, state: ScanState | None) -> None:
        self.output = output
        self.state = state

    def commit(
        self,
        shard: str,
        batch: bytes,
        *,
        position: int,
        pending: list[int],
        done: int,
        complete: bool,
    ) -> None:
        if self.state is not None:
            self.output.sync()
            self.state.commit(
                shard,
                position=position,
                pending=pending,
                done=done,
                complete=complete,
                batch=batch,
                output_start=self.output.size,
            )
        if batch:
            self.output.append(batch)

    def record(self, shard: str, batch: Batch) -> None:
        """:meth:`commit` of one checkpoint's :class:`Batch`, however it travelled here."""
        self.commit(
            shard,
            batch.batch,
            position=batch.position,
            pending=batch.pending,
            done=batch.done,
            complete=batch.complete,
        )


class RecorderThread:
    """Records batches on a thread of their own, in the order they come.

    A commit waits for ``fsync`` twice (state, then output): milliseconds during which an
    event loop would probe nothing. Here the loop hands the batch over and goes on; the
    thread keeps the journal-first order, one batch after the other. A crash loses at most
    the batches still queued — their targets are still pending in the last committed state,
    so a resume probes them again, as for any target in flight. The queue is short, so a
    slow disk slows the scan down instead of filling memory; a write error ends the scan.
    """

    def __init__(self, recorder: Recorder, depth: int = 4) -> None:
        self.recorder = recorder
        self._queue: queue.Queue[tuple[str, Batch] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pacsaudit-recorder", daemon=True)
        self._thread.start()

    def submit(self, shard: str, batch: Batch) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((shard, batch))

    def close(self) -> None:
        """Record everything submitted, then stop; re-raises a write error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the scan is ending with the error
            shard, b = item
            try:
                self.recorder.record(shard, b)
            except BaseException as exc:  # reported to the scan by submit() and close()
                self._error = exc


class Batch(msgspec.Struct, frozen=True):
    """What one checkpoint hands on: lines, and the shard's progress when they were cut."""

    batch: bytes
    position: int
    pending: list[int]
    done: int
    complete: bool


OnBatch = Callable[[Batch], None]


class ShardRun(msgspec.Struct, frozen=True):
    """What a run of shards elsewhere — child processes, a cluster's workers — needs: the
    targets, a way to build the probe where the shard runs (the engine never imports a
    probe), and where batches are recorded and findings and counts go, in the process that
    holds the output."""

    targets: ShardedTargets
    probe_factory: Callable[[], MultiProbe]
    engine: EngineOptions
    recorder: Recorder
    stats: ScanStats
    on_finding: Callable[[Finding], None]


async def run_shard(
    source: PositionedSource,
    probe: Probe | MultiProbe,
    options: EngineOptions,
    on_batch: OnBatch,
    *,
    done_before: int = 0,
    stats: ScanStats | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    interval: float = CHECKPOINT_INTERVAL,
    flush_findings: int = CHECKPOINT_FINDINGS,
    flush_services: int = CHECKPOINT_SERVICES,
) -> ScanStats:
    """Scan one shard, handing a :class:`Batch` to ``on_batch`` at every checkpoint.

    The last batch comes however the run ends: ``complete`` when every target is reported;
    otherwise (Ctrl-C, an error) with the pending positions, so nothing is lost.
    ``on_finding`` sees every finding but closed and filtered ones (the summary's business).
    """
    findings: list[Finding] = []
    services = 0
    """Findings of the batch with a service's facts (not closed or filtered)."""
    done = done_before
    sweep: Sweep

    def checkpoint(complete: bool = False) -> None:
        nonlocal services
        # One C call encodes the whole batch as JSON lines (the encoding model.encode_finding
        # uses, newline included).
        blob = _encoder.encode_lines(findings) if findings else b""
        findings.clear()
        services = 0
        on_batch(Batch(blob, source.position, sweep.pending(), done, complete))

    def on_done(_position: int, _target: Target, found: list[Finding]) -> None:
        nonlocal done, services
        findings.extend(found)
        done += 1
        for finding in found:
            if finding.status not in _SILENT:
                services += 1
                if on_finding is not None:
                    on_finding(finding)
        if len(findings) >= flush_findings or services >= flush_services:
            checkpoint()

    async def periodically() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                checkpoint()
            except Exception as exc:  # a full disk, or a cluster attempt superseded
                sweep.abort(exc)
                return

    sweep = Sweep(probe, options, on_done, stats=stats)
    ticker = asyncio.create_task(periodically())
    finished = False
    try:
        result = await sweep.run(source)
        finished = True
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        if finished:
            checkpoint(complete=True)
        else:
            with contextlib.suppress(Exception):  # the original error is the one to report
                checkpoint()
    return result
