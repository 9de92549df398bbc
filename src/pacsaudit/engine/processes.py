"""Shards in worker processes on this machine: a scan's CPU spread over its cores.

Why: the engine runs one event loop, and a loop is one core. Where the network answers in
microseconds (a LAN, loopback) a DICOM exchange's own CPU is the limit — about 250 µs a host
to associate, echo and release, several times that with the C-FIND survey — and a second core
sits idle. ZMap and masscan split their send loops over threads for the same reason; here a
shard is the unit, as on a cluster (:mod:`pacsaudit.engine.cluster`), without Dask's start-up.

How: the process holding the output and the state (the parent) forks one child per shard
job, at most ``processes`` at once, from plain code — no event loop and no thread of its own
exists then, and the fork copies the plan, so nothing is pickled. A child scans its shard on
its own loop and sends every checkpoint's :class:`BatchFrame` over a pipe; the parent records
it exactly as a one-process run does (journal first, output second,
:class:`~pacsaudit.engine.checkpoint.Recorder`). Only the parent writes files.

Bounds: the in-flight window, the probes at once, ``--rate`` and ``--per-network`` are the
scan's, so each child gets a share of each (:func:`share`) and their sum never exceeds the
whole (never more processes than ``--per-network``).

Stopping: children ignore SIGINT. The parent, on Ctrl-C, closes each child's stop pipe; the
child ends its shard as a one-process scan ends on Ctrl-C (a last batch with the positions
still pending) and the parent records it before returning. A parent that dies closes the stop
pipes with it: its children stop at once (their unrecorded targets are pending in the state). A
child that dies or fails leaves its shard incomplete in the state; the parent finishes the
others, then raises :class:`ProcessesError` (``--resume`` continues from the checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import queue
import selectors
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator

import msgspec

from pacsaudit.engine.checkpoint import Batch, ShardRun, run_shard
from pacsaudit.engine.jobs import ShardJob
from pacsaudit.engine.options import (
    MAX_PROCESSES,
    EngineOptions,
    ScanStats,
    new_event_loop_factory,
    reserve_descriptor_table,
)
from pacsaudit.model import Finding
from pacsaudit.peertext import printable_text
from pacsaudit.usage import UsageError

TICK = 0.2
"""Seconds between the parent's calls of ``on_tick`` (the progress bar) while it waits."""
STOP_GRACE = 30.0
"""Seconds stopped children get to send their last batch before they are killed."""
PIPE_BYTES = 1 << 20
"""Pipe buffer asked for (Linux ``F_SETPIPE_SZ``): a child's batch rarely waits for the
parent's ``fsync``."""
MAX_FRAME = 1 << 30
_HEADER = 4
log = logging.getLogger(__name__)


class ProcessesError(UsageError):
    """A shard's process failed or died; its progress is saved in the state."""


# --- frames, child to parent -----------------------------------------------------------------


class BatchFrame(msgspec.Struct, tag="batch", array_like=True):
    """One checkpoint: the JSON lines (as written to the output), the shard's progress, the
    findings the parent's summary must see (:attr:`ProcessRun.for_parent`; decoded again
    there) and the statuses counted since the last frame."""

    lines: bytes
    position: int
    pending: list[int]
    done: int
    complete: bool
    found: list[Finding]
    by_status: dict[str, int]


class EndFrame(msgspec.Struct, tag="end", array_like=True):
    """The child's timing counters (:meth:`ScanStats.timing`), sent after its last batch."""

    timing: dict[str, float | int | None]


class ErrorFrame(msgspec.Struct, tag="error", array_like=True):
    """Why the child's scan failed (the parent reports it after the other shards)."""

    message: str


Frame = BatchFrame | EndFrame | ErrorFrame
_encoder = msgspec.msgpack.Encoder()


@functools.cache
def _decoder() -> msgspec.msgpack.Decoder[Frame]:
    """Built when the parent reads its first frame, after the fork: compiling the frames'
    types (every finding's) takes 5 ms, which the parent would spend before any child starts."""
    return msgspec.msgpack.Decoder(Frame)


def encode_frame(frame: Frame) -> bytearray:
    """The frame behind its length, encoded in place (a batch is megabytes: no second copy to
    put the header in front)."""
    buf = bytearray(_HEADER)
    _encoder.encode_into(frame, buf, _HEADER)
    buf[:_HEADER] = (len(buf) - _HEADER).to_bytes(_HEADER, "big")
    return buf


class FrameReader:
    """Frames out of the bytes of one pipe, however the reads cut them. A batch of a few MB
    arrives in many reads: its chunks are joined once, when the frame is whole."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._wanted: int | None = None
        """The whole frame's length, header included, once the header is in."""

    def feed(self, data: bytes) -> list[Frame]:
        self._chunks.append(data)
        self._size += len(data)
        frames: list[Frame] = []
        while True:
            if self._wanted is None:
                if self._size < _HEADER:
                    break
                head = self._joined()[:_HEADER]
                size = int.from_bytes(head, "big")
                if size > MAX_FRAME:
                    raise ValueError(f"a frame of {size:,} bytes")
                self._wanted = _HEADER + size
            if self._size < self._wanted:
                break
            data = self._joined()
            frames.append(_decoder().decode(memoryview(data)[_HEADER : self._wanted]))
            rest = data[self._wanted :]
            self._chunks, self._size, self._wanted = [rest] if rest else [], len(rest), None
        return frames

    def _joined(self) -> bytes:
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    @property
    def partial(self) -> bool:
        """Bytes of an unfinished frame are left (the child died while sending it)."""
        return self._size > 0


# --- the run ---------------------------------------------------------------------------------


class ProcessRun(ShardRun, frozen=True):
    """A run in child processes: each child builds its probe for itself, the engine options
    are the scan's (shared out among the children), and the jobs are run at most
    ``processes`` at once."""

    jobs: list[ShardJob]
    processes: int
    on_tick: Callable[[], None] | None = None
    for_parent: Callable[[], Callable[[Finding], bool]] | None = None
    """Builds, in each child, the test of which findings ``on_finding`` must see (None:
    every one but closed and filtered); the output gets them all."""


def share(engine: EngineOptions, processes: int) -> EngineOptions:
    """One child's part of the scan's bounds: the sum over ``processes`` children never
    exceeds the scan's window, probe cap, rate or per-network cap."""

    def part(whole: int) -> int:
        return max(1, whole // processes)

    return msgspec.structs.replace(
        engine,
        concurrency=part(engine.concurrency),
        max_probing=part(engine.max_probing) if engine.max_probing is not None else None,
        rate=engine.rate / processes if engine.rate is not None else None,
        per_network=part(engine.per_network) if engine.per_network is not None else None,
    )


def usable_processes(wanted: int, engine: EngineOptions, jobs: int) -> int:
    """How many children may run at once: ``wanted``, but no more than the shard jobs, and
    no more than ``--per-network`` (each child holds at least one target of a network)."""
    count = min(wanted, jobs, MAX_PROCESSES)
    if engine.per_network is not None:
        count = min(count, engine.per_network)
    return max(1, count)


class _Child(msgspec.Struct):
    job: ShardJob
    pid: int
    out: int
    """The read end of the child's frame pipe."""
    stop: int | None
    """The write end of the child's stop pipe (closed: stop)."""
    reader: FrameReader = msgspec.field(default_factory=FrameReader)
    done: int = 0
    complete: bool = False
    error: str | None = None
    started: float = msgspec.field(default_factory=time.monotonic)
    killed: bool = False
    """Killed by the parent (a second Ctrl-C, or a stop that outlasted the grace)."""


def run_in_processes(run: ProcessRun) -> bool:
    """Run every job in a child process, at most ``run.processes`` at once, recording their
    batches as they come; True when interrupted (Ctrl-C). Raises :class:`ProcessesError`
    after the others finished when a shard's process failed or died.

    Ctrl-C is counted by a handler of its own, never raised: a KeyboardInterrupt in the middle
    of a commit would leave a torn batch in the output with more batches to follow it."""
    engine = share(run.engine, run.processes)
    waiting = deque(run.jobs)
    live: dict[int, _Child] = {}
    finished: list[_Child] = []
    selector = selectors.DefaultSelector()
    interrupts: list[int] = []
    stop_by: float | None = None
    last_tick = time.monotonic()
    with _counting_interrupts(interrupts):
        try:
            while waiting or live:
                if interrupts and stop_by is None:  # stop the children, record their last batches
                    waiting.clear()
                    _stop(live.values())
                    stop_by = time.monotonic() + STOP_GRACE
                if len(interrupts) > 1 or (stop_by is not None and time.monotonic() > stop_by):
                    _kill(live.values())  # a second Ctrl-C, or the grace is over
                while waiting and len(live) < run.processes:
                    child = _start(waiting.popleft(), run, engine, live.values())
                    live[child.out] = child
                    selector.register(child.out, selectors.EVENT_READ, child)
                for key, _ in selector.select(TICK):
                    child = key.data
                    if _read(child, run):
                        selector.unregister(child.out)
                        _reap(child)
                        finished.append(live.pop(child.out))
                now = time.monotonic()
                if run.on_tick is not None and now - last_tick >= TICK:
                    run.on_tick()
                    last_tick = now
        except BaseException:
            _stop(live.values())
            _kill(live.values())
            while live:  # reaped, their pipes closed: not closed twice below
                _reap(live.popitem()[1])
            raise
        finally:
            for child in live.values():  # only if reaping itself failed
                with contextlib.suppress(OSError):
                    os.close(child.out)
            selector.close()
    interrupted = bool(interrupts)
    failed = [c for c in finished if not c.complete and (c.error or not interrupted)]
    if failed:
        reasons = "; ".join(f"shard {c.job.name}: {c.error or 'ended early'}" for c in failed)
        raise ProcessesError(
            f"{reasons}. The findings written are whole; with a state, the same command with "
            "--resume continues from the last checkpoint"
        )
    return interrupted


@contextlib.contextmanager
def _counting_interrupts(interrupts: list[int]) -> Iterator[None]:
    """SIGINT appends to ``interrupts`` instead of raising, while the run records batches
    (on the main thread only, where signal handlers can be set; elsewhere Ctrl-C is not ours)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def count(_signum: int, _frame: object) -> None:
        interrupts.append(1)

    previous = signal.signal(signal.SIGINT, count)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _read(child: _Child, run: ProcessRun) -> bool:
    """Read what the child's pipe holds and record its frames; True at end of file."""
    try:
        data = os.read(child.out, PIPE_BYTES)
    except BlockingIOError:
        return False
    if not data:
        if child.reader.partial and child.error is None:
            child.error = "its process died while sending a batch"
        return True
    try:
        frames = child.reader.feed(data)
    except (ValueError, msgspec.DecodeError) as exc:
        child.error = f"unreadable message from its process ({exc})"
        _stop([child])
        return False
    for frame in frames:
        _handle(frame, child, run)
    return False


def _handle(frame: Frame, child: _Child, run: ProcessRun) -> None:
    if isinstance(frame, BatchFrame):
        batch = Batch(frame.lines, frame.position, frame.pending, frame.done, frame.complete)
        run.recorder.record(child.job.name, batch)
        run.stats.done += frame.done - child.done
        child.done, child.complete = frame.done, frame.complete
        run.stats.by_status.update(frame.by_status)
        for finding in frame.found:
            run.on_finding(finding)
    elif isinstance(frame, EndFrame):
        run.stats.absorb(frame.timing)
    else:
        child.error = printable_text(frame.message)[:500]


def _start(
    job: ShardJob, run: ProcessRun, engine: EngineOptions, others: Iterable[_Child]
) -> _Child:
    out_r, out_w = os.pipe()
    stop_r, stop_w = os.pipe()
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(out_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    siblings = list(others)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(out_r)
            os.close(stop_w)
            for sibling in siblings:  # a sibling's stop pipe held open here would not close
                with contextlib.suppress(OSError):
                    os.close(sibling.out)
                if sibling.stop is not None:
                    with contextlib.suppress(OSError):
                        os.close(sibling.stop)
            code = _child_main(job, run, engine, out_w, stop_r)
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(stop_r)
    os.set_blocking(out_r, False)
    return _Child(job, pid, out_r, stop_w, done=job.done)


def _stop(children: Iterable[_Child]) -> None:
    for child in children:
        if child.stop is not None:
            with contextlib.suppress(OSError):
                os.close(child.stop)
            child.stop = None


def _kill(children: Iterable[_Child]) -> None:
    """SIGKILL, once per child (the loop asks again every tick until each is reaped)."""
    for child in children:
        if child.killed:
            continue
        child.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)


def _reap(child: _Child) -> None:
    _stop([child])
    _, status, usage = os.wait4(child.pid, 0)
    log.info(
        "shard %s: process %d ended after %.3f s (CPU %.3f s user, %.3f s system)",
        child.job.name,
        child.pid,
        time.monotonic() - child.started,
        usage.ru_utime,
        usage.ru_stime,
    )
    if child.error is None and not child.complete and not child.killed:
        if os.WIFSIGNALED(status):
            child.error = f"its process was killed by signal {os.WTERMSIG(status)}"
        elif os.waitstatus_to_exitcode(status) != 0:
            child.error = f"its process exited with {os.waitstatus_to_exitcode(status)}"
    with contextlib.suppress(OSError):
        os.close(child.out)


# --- in the child ----------------------------------------------------------------------------


class ParentGone(Exception):
    """The parent's end of the frame pipe is closed: nobody records this shard any more."""


class FrameWriter:
    """Sends frames to the parent on a thread of its own, so that the child's event loop never
    waits for the parent's disk; a short queue makes a slow parent slow the child down."""

    def __init__(self, fd: int, depth: int = 4) -> None:
        self._fd = fd
        self._queue: queue.Queue[bytearray | None] = queue.Queue(depth)
        self.gone = False
        self._thread = threading.Thread(target=self._run, name="pacsaudit-frames", daemon=True)
        self._thread.start()

    def send(self, frame: Frame) -> None:
        if self.gone:
            raise ParentGone()
        self._queue.put(encode_frame(frame))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self.gone:
                continue
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                self.gone = True


def _child_main(job: ShardJob, run: ProcessRun, engine: EngineOptions, out: int, stop: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a child stops
    reserve_descriptor_table(engine.concurrency)  # while this process has one thread
    writer = FrameWriter(out)
    stats = ScanStats()
    found: list[Finding] = []
    counted: Counter[str] = Counter()
    wanted = run.for_parent() if run.for_parent is not None else None

    def on_finding(finding: Finding) -> None:
        if wanted is None or wanted(finding):
            found.append(finding)

    def on_batch(batch: Batch) -> None:
        fresh = stats.by_status - counted
        counted.update(fresh)
        frame = BatchFrame(
            batch.batch,
            batch.position,
            batch.pending,
            batch.done,
            batch.complete,
            list(found),
            dict(fresh),
        )
        found.clear()
        writer.send(frame)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def stopped() -> None:  # asked to stop, or the parent is gone
            loop.remove_reader(stop)
            task.cancel()

        loop.add_reader(stop, stopped)
        source = run.targets.source(job.shard, job.start, job.redo)
        with contextlib.suppress(asyncio.CancelledError):
            await run_shard(
                source,
                run.probe_factory(),
                engine,
                on_batch,
                done_before=job.done,
                stats=stats,
                on_finding=on_finding,
            )

    code = 0
    try:
        with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
            runner.run(main())
        writer.send(EndFrame(stats.timing()))
    except ParentGone:
        code = 0
    except BaseException as exc:  # reported by the parent, which holds the terminal
        code = 1
        with contextlib.suppress(ParentGone):
            writer.send(ErrorFrame(f"{type(exc).__name__}: {exc}"))
    writer.close()
    return code
