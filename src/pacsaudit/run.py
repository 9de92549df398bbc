"""A scan's run: the plan's shards through the engine, findings to disk, progress to a sink.

:func:`execute` runs a :class:`~pacsaudit.plan.ScanPlan` to completion (or Ctrl-C): here, one
shard job after another, or on a Dask cluster (``--cluster``,
:mod:`pacsaudit.engine.cluster`). With a state, every batch of findings is journalled before it
is appended to the output, so a crash loses nothing and ``--resume`` writes nothing twice.
After the main pass, the second pass (:mod:`pacsaudit.followup`) tries AE titles that a host's
web API revealed where its DICOM service refused ours; the state is complete only after it.
Drawing is not done here: the caller passes a :class:`Progress` sink (the CLI's bar).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from typing import Protocol

import msgspec

from pacsaudit.engine.checkpoint import Batch, OutputFile, Recorder, RecorderThread, run_shard
from pacsaudit.engine.collection import scan_collection
from pacsaudit.engine.jobs import ShardJob, shard_jobs, split_tasks
from pacsaudit.engine.options import (
    EngineOptions,
    ScanStats,
    new_event_loop_factory,
    raise_fd_limit,
    reserve_descriptor_table,
)
from pacsaudit.engine.processes import usable_processes
from pacsaudit.engine.rtt import WINDOW_CAP, in_flight_window
from pacsaudit.engine.state import ScanState
from pacsaudit.followup import Collector, second_pass
from pacsaudit.model import INTERESTING, Finding, Severity
from pacsaudit.plan import ScanPlan, check_state
from pacsaudit.probes.catalog import scan_probes
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.targets.compact import LIST_ALGORITHM

MAX_TABLE_ROWS = 500
AUTO_PROCESSES = 8
"""The most processes a run starts by itself (``--processes`` may ask for more)."""
TARGETS_PER_PROCESS = 2048
"""Targets a process must have before the run starts another (with ``--processes`` unset)."""
SECOND_PASS = "second-pass"
"""The name a second pass's batch is journalled under: no shard of the walk has it, so its
commit moves no shard's position (every shard is complete by then)."""
_encoder = msgspec.json.Encoder()


class Progress(Protocol):
    """Where a run reports how far it is (the CLI draws a bar; tests may count)."""

    def start(self, total: int, done_before: int, *, own_thread: bool = True) -> None:
        """``own_thread=False``: draw only when :meth:`update` is called, from the caller's
        thread (a run that forks must have no other thread: one holding a lock at the fork,
        stderr's say, would leave it held for good in the child)."""
        ...

    def update(self, stats: ScanStats) -> None:
        """Called a few times a second while the run is here."""
        ...

    def note(self, line: str) -> None:
        """A line of progress in words (a cluster run reports so)."""
        ...

    def stop(self) -> None: ...


def build_dispatcher(plan: ScanPlan) -> Dispatcher:
    """The probes this plan's targets may need behind one dispatcher, each probe built on its
    first use. Module-level, so a cluster worker can be handed it (pickled by reference)."""
    ports = plan.ports if plan.results is None else plan.results.ports
    return Dispatcher(scan_probes(plan, ports, plan.forced_probe), forced=plan.forced_probe)


class SecondPass(msgspec.Struct, frozen=True):
    """What the second pass did: associations tried, hosts the bound left out, seconds."""

    tried: int
    left_out: int
    seconds: float


class ScanOutcome(msgspec.Struct):
    stats: ScanStats
    interesting: list[Finding] = msgspec.field(default_factory=list)
    interrupted: bool = False
    worst_severity: Severity | None = None
    followup: Collector = msgspec.field(default_factory=Collector)
    """The main pass's refusals and revealed AE titles, for the second pass."""
    second_pass: SecondPass | None = None

    def note(self, finding: Finding) -> None:
        severity = getattr(finding.result, "severity", None)
        if severity is not None and (
            self.worst_severity is None or severity.rank > self.worst_severity.rank
        ):
            self.worst_severity = severity

    def add(self, finding: Finding) -> None:
        """Every finding of this run passes here (the table, ``--fail-on`` and the second
        pass read it)."""
        self.followup.add(finding)
        if finding.result is not None:
            self.note(finding)
        if getattr(finding.result, "called_ae_source", None) is not None:
            # a second-pass finding replaces its service's first-pass row in the table
            key = (finding.ip, finding.port, finding.protocol)
            self.interesting = [f for f in self.interesting if (f.ip, f.port, f.protocol) != key]
        if finding.status in INTERESTING and len(self.interesting) < MAX_TABLE_ROWS:
            self.interesting.append(finding)


def run_engine(plan: ScanPlan) -> EngineOptions:
    """The engine options a run uses: the in-flight window fitted to this process's open-file
    limit (raised first) — sized from it and ``--rate`` when ``auto_window``, with the probes
    running at once capped at the plan's ``concurrency`` — connect-first, and the dial's
    connect timeout (with adaptive timing, its upper bound)."""
    max_probing = plan.engine.max_probing
    if plan.engine.auto_window:
        hold = plan.dicom.dial.connect_timeout + plan.dicom.read_timeout
        concurrency = in_flight_window(raise_fd_limit(WINDOW_CAP), plan.engine.rate, hold)
        # the window is for dials; probes stay at the old default, which the CPU sets
        max_probing = min(concurrency, max_probing or plan.engine.concurrency)
    else:
        concurrency = raise_fd_limit(plan.engine.concurrency)
    return msgspec.structs.replace(
        plan.engine,
        concurrency=concurrency,
        max_probing=max_probing,
        predial=True,
        connect_timeout=plan.dicom.dial.connect_timeout,
    )


def execute(plan: ScanPlan, progress: Progress | None = None) -> ScanOutcome:
    """Run the plan to completion (or Ctrl-C); findings and progress are on disk either way.

    With a state, every batch of findings is journalled before it is appended to the output,
    so a crash at any moment loses nothing and ``--resume`` writes nothing twice.
    """
    engine = run_engine(plan)
    outcome = ScanOutcome(ScanStats())
    check_state(plan)
    scale = plan.scale
    with contextlib.ExitStack() as stack:
        client = None
        if scale.cluster is not None:  # unreachable: an error before any file is touched
            from pacsaudit.engine import cluster

            client = stack.enter_context(cluster.connect(scale.cluster))
        stack.enter_context(scan_collection())
        _execute(plan, engine, outcome, progress, client)
    if outcome.stats.finished is None:
        outcome.stats.finished = time.monotonic()
    return outcome


def _execute(
    plan: ScanPlan,
    engine: EngineOptions,
    outcome: ScanOutcome,
    progress: Progress | None,
    client: object | None,
) -> None:
    scale = plan.scale
    state: ScanState | None = None
    output: OutputFile | None = None
    try:
        if scale.state is not None and scale.resume:
            state = ScanState.load(scale.state)
            if state.complete:
                return  # nothing left to scan, nothing to write
            assert plan.output is not None
            output = OutputFile.resume(plan.output, state)
            outcome.followup.seed(plan.output)
        else:
            output = OutputFile(plan.output)
            if scale.state is not None:
                state = ScanState.create(scale.state, _state_meta(plan))
        recorder = Recorder(output, state)
        if client is not None:
            _execute_on_cluster(plan, engine, recorder, outcome, progress, client)
        else:
            _execute_here(plan, engine, recorder, outcome, progress)
        if not outcome.interrupted:
            _second_pass(plan, recorder, outcome)
        if state is not None and not outcome.interrupted:
            # The last batch durable before the state says nothing is left: a resume of a
            # complete state reads no journal, so an output torn after it would stay torn.
            output.sync()
            state.mark_complete()
    finally:
        if output is not None:
            output.close()
        if state is not None:
            state.close()


def _second_pass(plan: ScanPlan, recorder: Recorder, outcome: ScanOutcome) -> None:
    """Probe what the main pass's findings pair up (a refusal and a revealed title on one
    host), and record the findings as one batch, like any other."""
    followups, left_out = outcome.followup.plan()
    if not followups:
        return
    began = time.monotonic()
    runner = asyncio.Runner(loop_factory=new_event_loop_factory())
    try:
        found = runner.run(second_pass(followups, plan, plan.engine.rate))
    except KeyboardInterrupt:
        outcome.interrupted = True  # the state stays incomplete: --resume runs it again
        return
    finally:
        runner.close()
    recorder.commit(
        SECOND_PASS,
        _encoder.encode_lines(found),
        position=0,
        pending=[],
        done=0,
        complete=True,
    )
    for finding in found:
        outcome.add(finding)
    outcome.second_pass = SecondPass(len(followups), left_out, time.monotonic() - began)


def _state_meta(plan: ScanPlan) -> dict[str, str]:
    return {
        "fingerprint": plan.fingerprint,
        "seed": str(plan.seed),
        "shard": str(plan.scale.shard),
        "targets": str(plan.total),
        "ports": ",".join(map(str, plan.ports)),
        "input": "results" if plan.results is not None else "walk",
        "list": LIST_ALGORITHM if plan.results is not None else "",
        "output": str(plan.output) if plan.output else "",
    }


def _execute_on_cluster(
    plan: ScanPlan,
    engine: EngineOptions,
    recorder: Recorder,
    outcome: ScanOutcome,
    progress: Progress | None,
    client: object,
) -> None:
    from pacsaudit.engine.cluster import ClusterRun, run_on_cluster  # Dask: only with --cluster

    run = ClusterRun(
        targets=plan,
        probe_factory=functools.partial(build_dispatcher, plan),
        engine=engine,
        recorder=recorder,
        stats=outcome.stats,
        on_finding=outcome.add,
        tasks=plan.scale.tasks,
        progress=progress.note if progress is not None else None,
    )
    outcome.interrupted = run_on_cluster(run, client)


def _execute_here(
    plan: ScanPlan,
    engine: EngineOptions,
    recorder: Recorder,
    outcome: ScanOutcome,
    progress: Progress | None,
) -> None:
    """Every shard job of this run on this machine: in child processes where the run is
    large enough to use more than one core (:mod:`pacsaudit.engine.processes`), else in this
    process, one after another."""
    state = recorder.state
    wanted = processes_for(plan)
    jobs = shard_jobs(plan, state, split_tasks(state, plan.scale.tasks, wanted))
    processes = usable_processes(wanted, engine, len(jobs))
    if processes > 1:
        _execute_in_processes(plan, engine, recorder, outcome, progress, jobs, processes)
        return
    probe = build_dispatcher(plan)

    async def main() -> None:
        ticker: asyncio.Task[None] | None = None
        if progress is not None:
            _start_progress(progress, plan, jobs, own_thread=True)
            ticker = asyncio.create_task(_tick(progress, outcome.stats))
        try:
            for job in jobs:
                source = plan.source(job.shard, job.start, job.redo)

                def on_batch(batch: Batch, name: str = job.name) -> None:
                    writer.submit(name, batch)

                await run_shard(
                    source,
                    probe,
                    engine,
                    on_batch,
                    done_before=job.done,
                    stats=outcome.stats,
                    on_finding=outcome.add,
                )
        finally:
            if ticker is not None:
                ticker.cancel()
            if progress is not None:
                progress.update(outcome.stats)
                progress.stop()

    reserve_descriptor_table(engine.concurrency)  # before the recorder's thread starts
    writer = RecorderThread(recorder)
    runner = asyncio.Runner(loop_factory=new_event_loop_factory())
    try:
        runner.run(main())
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        runner.close()
        writer.close()


class ForParent:
    """In a child process: which findings the parent's :class:`ScanOutcome` must see (all
    of them reach the output): the table's first :data:`MAX_TABLE_ROWS`, each one that
    raises the worst severity so far, and what the second pass reads (``Collector.wants``).
    On a sweep of thousands of open services the rest would be sent, decoded and dropped."""

    def __init__(self) -> None:
        self.rows = 0
        self.worst = -1

    def __call__(self, finding: Finding) -> bool:
        keep = Collector.wants(finding)
        if finding.status in INTERESTING and self.rows < MAX_TABLE_ROWS:
            self.rows += 1
            keep = True
        severity = getattr(finding.result, "severity", None)
        if severity is not None and severity.rank > self.worst:
            self.worst = severity.rank
            keep = True
        return keep


def processes_for(plan: ScanPlan) -> int:
    """``--processes`` (at most one per target), or as many as the cores this process may
    use (at most :data:`AUTO_PROCESSES`) where each gets :data:`TARGETS_PER_PROCESS` targets
    or more: below that, forking costs more than a second core gives back."""
    if plan.scale.processes is not None:  # never more than there are targets
        return max(1, min(plan.scale.processes, plan.total))
    if not hasattr(os, "fork"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(cores, AUTO_PROCESSES, plan.total // TARGETS_PER_PROCESS))


def _execute_in_processes(
    plan: ScanPlan,
    engine: EngineOptions,
    recorder: Recorder,
    outcome: ScanOutcome,
    progress: Progress | None,
    jobs: list[ShardJob],
    processes: int,
) -> None:
    from pacsaudit.engine.processes import ProcessRun, run_in_processes

    on_tick = None
    if progress is not None:
        _start_progress(progress, plan, jobs, own_thread=False)
        on_tick = functools.partial(progress.update, outcome.stats)
    run = ProcessRun(
        targets=plan,
        probe_factory=functools.partial(build_dispatcher, plan),
        engine=engine,
        recorder=recorder,
        stats=outcome.stats,
        on_finding=outcome.add,
        jobs=jobs,
        processes=processes,
        on_tick=on_tick,
        for_parent=ForParent,
    )
    try:
        outcome.interrupted = run_in_processes(run)
    finally:
        if progress is not None:
            progress.update(outcome.stats)
            progress.stop()


def _start_progress(
    progress: Progress, plan: ScanPlan, jobs: list[ShardJob], *, own_thread: bool
) -> None:
    """The bar's total: what earlier runs did, and what the jobs left hold."""
    done_before = sum(job.done for job in jobs)
    total = done_before + sum(plan.source(j.shard, j.start).estimate() for j in jobs)
    progress.start(total, done_before, own_thread=own_thread)


async def _tick(progress: Progress, stats: ScanStats) -> None:
    while True:
        progress.update(stats)
        await asyncio.sleep(0.2)
