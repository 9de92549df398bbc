"""Shards as tasks on a Dask cluster; their findings stream back to the one output.

Why Dask: an Internet-wide scan runs on many machines for days, and ``dask.distributed`` already
does what that needs — placing tasks on workers, noticing a lost worker and running its task
again elsewhere — with a scheduler that is one ``pip install`` away (``dask-scheduler`` and
``dask-worker`` on each machine, or a Kubernetes/Slurm deployment). pacsaudit only adds the
part Dask cannot know: where a shard stands.

The protocol (one scan has one id; one task per shard; each run of a task is an *attempt*):

1. The client (the ``pacsaudit scan`` process) holds the output and the state database and
   nothing else runs probes there. It submits one task per unfinished shard.
2. An attempt starts by announcing itself on the scan's queue (``start``) and waits for the
   client's answer: the shard's last committed checkpoint (position, pending positions, targets
   done). A re-run after a lost worker therefore resumes from the checkpoint, not from zero.
3. Every checkpoint interval the attempt sends a ``batch``: the JSON lines finished since the
   last one, with its position and pending set at that instant. The client records it exactly
   as a local scan does (journal, then output; :mod:`pacsaudit.engine.state`).
4. The client only accepts batches of the shard's *current* attempt — the last one that said
   ``start``. Messages of an older attempt still in the queue (sent by a worker that has since
   been declared lost) are dropped, and that attempt stops at its next checkpoint when it sees
   it is no longer current. Since the queue is FIFO, every batch an attempt sent before the
   new attempt started has been recorded before the new attempt reads its checkpoint: no
   result is lost or written twice.

Privacy: the task carries the scan's options, the keyed-hash secret included. Run the cluster on
machines you trust and its traffic over TLS (``tls://`` addresses and a ``distributed``
security configuration) when it crosses a network you do not control.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from pacsaudit.contract import MultiProbe
from pacsaudit.engine.checkpoint import Batch, ShardRun, run_shard
from pacsaudit.engine.jobs import ShardedTargets, ShardJob, shard_jobs, split_tasks
from pacsaudit.engine.options import (
    EngineOptions,
    ScanStats,
    new_event_loop_factory,
    raise_fd_limit,
    reserve_descriptor_table,
)
from pacsaudit.model import decode_finding
from pacsaudit.usage import UsageError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
"""Seconds to reach a scheduler before the scan is refused (no probe has been sent yet)."""
START_TIMEOUT = 300.0
"""Seconds an attempt waits for the client's checkpoint before giving up."""
MAX_RESUBMITS = 3
"""Times a shard is submitted again after its task ended without completing it (Dask itself
already re-runs a task whose worker died, up to its ``allowed-failures``)."""
STOP = "stop"
HEARTBEAT = 1.0
"""Seconds between the client's signs of life."""
POLL = 0.25
"""Seconds the client waits before asking an empty queue again (one small RPC per poll)."""
CLIENT_SILENCE = 60.0
"""An attempt stops when the client has shown no sign of life for this long (killed, or cut
off): no probe runs for a scan whose findings nobody records."""


class ClusterError(UsageError):
    """The cluster cannot be used (unreachable, no workers) or a shard failed for good."""


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """A Dask client for ``address`` (``local:N`` starts N worker processes here), closed
    afterwards; an unreachable scheduler is a :class:`ClusterError`, raised before any probe."""
    import distributed

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # The scheduler of a LocalCluster runs in this process and logs every event at INFO.
        logging.getLogger("distributed").setLevel(logging.WARNING)
    name, _, count = address.partition(":")
    cluster = None
    if name == "local":
        if not count.isdigit() or not 1 <= int(count) <= 256:
            raise ClusterError(f"bad cluster {address!r}: write local:N with N from 1 to 256")
        cluster = distributed.LocalCluster(
            n_workers=int(count),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # distributed 2026.8 still serves HTTP (health, metrics) with None, on :8787: two local
            # clusters at once collided there; loopback and a free port instead
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        if not client.nthreads():
            raise ClusterError(f"the Dask cluster at {address} has no workers")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class _Shard:
    job: ShardJob
    position: int
    pending: tuple[int, ...]
    done: int
    attempt: str | None = None
    complete: bool = False
    submits: int = 0


class ClusterRun(ShardRun, frozen=True):
    """A run on a cluster: the probe factory must be picklable (it travels to the workers),
    and progress lines go to ``progress`` in the client process."""

    tasks: int | None = None
    """``--tasks``; None: twice the cluster's worker threads (or the saved split)."""
    progress: Callable[[str], None] | None = None


def run_on_cluster(run: ClusterRun, client: Any) -> bool:
    """Run every unfinished shard as a task and record their batches as they arrive; True when
    interrupted (Ctrl-C)."""
    import distributed

    state = run.recorder.state
    threads = max(1, sum(client.nthreads().values()))
    jobs = shard_jobs(run.targets, state, split_tasks(state, run.tasks, 2 * threads))
    if not jobs:
        return False
    engine = run.engine
    if engine.rate is not None:  # the rate is the scan's: share it among tasks running at once
        engine = msgspec.structs.replace(engine, rate=engine.rate / min(len(jobs), threads))
    scan_id = uuid.uuid4().hex
    queue_name = f"pacsaudit-{scan_id}"
    queue = distributed.Queue(queue_name, client=client)
    shards = {j.name: _Shard(j, j.start, j.redo, j.done) for j in jobs}
    futures: dict[Any, str] = {}

    def submit(name: str) -> None:
        entry = shards[name]
        entry.submits += 1
        distributed.Variable(f"{queue_name}-{name}", client=client).set("")
        future = client.submit(
            scan_task,
            run.targets,
            run.probe_factory,
            engine,
            entry.job.shard,
            queue_name,
            key=f"{queue_name}-{name.replace('/', 'of')}-{entry.submits}",
            pure=False,
        )
        futures[future] = name

    for name in shards:
        submit(name)
    started = last_beat = last_report = time.monotonic()
    heartbeat = distributed.Variable(f"{queue_name}-alive", client=client)
    beats = 0
    heartbeat.set(beats)
    interrupted = False
    try:
        while not all(s.complete for s in shards.values()):
            # batch=True takes what the queue holds and never waits on the scheduler: a get
            # with a timeout that expires makes the scheduler log "Exception while handling op
            # queue_get" with a TimeoutError traceback (dask/distributed#2855, still so in
            # 2026.8), on this terminal for local:N, even with -q. The wait is ours instead.
            # Tasks seen ended before the queue is read: their last batches, put before they
            # returned, are then in what we read, and a shard they completed is not resubmitted.
            ended = [future for future in futures if future.done()]
            messages = queue.get(batch=True)
            for message in messages:
                _handle(message, shards, run, client, queue_name)
            _check_futures(ended, futures, shards, submit)
            if not messages:
                time.sleep(POLL)
            now = time.monotonic()
            if now - last_beat >= HEARTBEAT:
                beats += 1
                heartbeat.set(beats)
                last_beat = now
            if run.progress is not None and now - last_report >= 2.0:
                done = sum(s.done for s in shards.values())
                rate = run.stats.done / max(1e-9, now - started)
                running = sum(1 for s in shards.values() if s.attempt and not s.complete)
                run.progress(f"  {done:,} targets done ({rate:,.0f}/s), {running} shard(s) running")
                last_report = now
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for name in shards:  # every attempt still running stops at its next checkpoint
            with contextlib.suppress(Exception):
                distributed.Variable(f"{queue_name}-{name}", client=client).set(STOP)
        with contextlib.suppress(Exception):
            client.cancel(list(futures))
    return interrupted


def _handle(
    message: tuple[Any, ...],
    shards: dict[str, _Shard],
    run: ClusterRun,
    client: Any,
    queue_name: str,
) -> None:
    import distributed

    kind, name, attempt = message[0], message[1], message[2]
    entry = shards.get(name)
    if entry is None or entry.complete:
        return
    if kind == "start":
        log.info(
            "shard %s: attempt %s starts at position %d with %d pending, %d done",
            name,
            attempt[:8],
            entry.position,
            len(entry.pending),
            entry.done,
        )
        entry.attempt = attempt
        distributed.Variable(f"{queue_name}-{name}", client=client).set(attempt)
        reply = distributed.Variable(f"{queue_name}-{attempt}", client=client)
        reply.set((entry.position, entry.pending, entry.done))
        return
    if kind != "batch" or attempt != entry.attempt:
        return  # a lost attempt's leftovers: its targets are pending for the current one
    batch = Batch(*message[3:8])
    run.recorder.record(name, batch)
    run.stats.done += batch.done - entry.done
    for line in batch.batch.splitlines():
        finding = decode_finding(line)
        run.stats.by_status[finding.status] += 1
        run.on_finding(finding)
    entry.position, entry.pending, entry.done = batch.position, tuple(batch.pending), batch.done
    entry.complete = batch.complete
    if batch.complete and len(message) > 8:
        run.stats.absorb(message[8])  # the task's own timing counters, sent with its last batch


def _check_futures(
    ended: list[Any], futures: dict[Any, str], shards: dict[str, _Shard], submit: Any
) -> None:
    """A task that ended (Dask gave up after lost workers, or an error) without completing its
    shard is submitted again, from the shard's checkpoint, a bounded number of times.
    ``ended``: the futures seen done before the queue was last read."""
    for future in ended:
        name = futures.pop(future)
        entry = shards[name]
        if entry.complete:
            continue
        reason = "finished early"
        if future.status == "error":
            reason = repr(future.exception())
        if entry.submits > MAX_RESUBMITS:
            raise ClusterError(
                f"shard {name} failed {entry.submits} times ({reason}); its progress is saved: "
                "fix the cause and run the same command with --resume"
            )
        log.warning("shard %s: task ended without completing (%s); submitting again", name, reason)
        entry.attempt = None
        submit(name)


# --- on the workers ---------------------------------------------------------------------------


def scan_task(
    targets: ShardedTargets,
    probe_factory: Callable[[], MultiProbe],
    engine: EngineOptions,
    shard: Any,
    queue_name: str,
) -> dict[str, int | str]:
    """One attempt at one shard, on a worker: get the checkpoint, scan, stream batches."""
    import distributed

    name = str(shard)
    attempt = uuid.uuid4().hex
    queue = distributed.Queue(queue_name)
    current = distributed.Variable(f"{queue_name}-{name}")
    queue.put(("start", name, attempt))
    reply = distributed.Variable(f"{queue_name}-{attempt}")
    position, pending, done = reply.get(timeout=START_TIMEOUT)
    reply.delete()
    source = targets.source(shard, position, pending)
    probe = probe_factory()
    engine = msgspec.structs.replace(
        engine, concurrency=raise_fd_limit(engine.concurrency), predial=True
    )
    reserve_descriptor_table(engine.concurrency)  # a worker has threads: one growth, not five

    class Superseded(Exception):
        pass

    heartbeat = distributed.Variable(f"{queue_name}-alive")
    seen = [heartbeat.get(timeout=30), time.monotonic()]
    stats = ScanStats()

    def on_batch(batch: Batch) -> None:
        # Plain values: Dask serialises them without falling back to pickle.
        fields = (batch.batch, batch.position, batch.pending, batch.done, batch.complete)
        if batch.complete:
            queue.put(("batch", name, attempt, *fields, stats.timing()))
            return
        queue.put(("batch", name, attempt, *fields))
        if current.get(timeout=30) != attempt:
            raise Superseded()  # another attempt took over, or the scan was stopped
        beat = heartbeat.get(timeout=30)
        if beat != seen[0]:
            seen[:] = [beat, time.monotonic()]
        elif time.monotonic() - seen[1] > CLIENT_SILENCE:
            raise Superseded()  # the client is gone

    async def main() -> int:
        try:
            await run_shard(source, probe, engine, on_batch, done_before=done, stats=stats)
        except Superseded:
            return -1
        return stats.done

    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        scanned = runner.run(main())
    return {"shard": name, "attempt": attempt, "scanned": scanned}
