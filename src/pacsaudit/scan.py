"""One scan from options to findings on disk: targets → engine → probe → writer.

The CLI builds a :class:`ScanPlan` (which validates everything before any packet is sent:
targets against the blocklist, the seed, the shard, the saved state when resuming) and calls
:func:`execute`; tests and benchmarks call the same two. Targets come from the seeded
cyclic-group walk over the address space (one shard of it), or from the open ports a SYN
scanner found (``--input-format``); the engine checkpoints them into a state database beside
the output, so ``--resume`` continues an interrupted scan; ``--cluster`` runs the shards on
Dask (:mod:`pacsaudit.engine.cluster`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pacsaudit.engine.checkpoint import Batch, OutputFile, Recorder, RecorderThread, run_shard
from pacsaudit.engine.runner import (
    EngineOptions,
    ScanStats,
    new_event_loop_factory,
    raise_fd_limit,
)
from pacsaudit.engine.sources import (
    ListSource,
    PositionedSource,
    WalkSource,
    list_fingerprint,
    scan_fingerprint,
)
from pacsaudit.engine.state import ScanState, StateError
from pacsaudit.errors import UsageError
from pacsaudit.model import INTERESTING, Finding, Severity
from pacsaudit.probes.base import Probe
from pacsaudit.probes.dicom.options import DICOM_PORTS, DicomOptions
from pacsaudit.probes.fileshare.options import FTP_PORTS, RSYNC_PORTS, SMB_PORTS, WalkOptions
from pacsaudit.probes.http.options import HTTP_PORTS, HttpOptions
from pacsaudit.probes.registry import Dispatcher
from pacsaudit.targets.blocklist import load_blocklist
from pacsaudit.targets.permutation import Shard, TargetSpace
from pacsaudit.targets.readers import (
    InputFormat,
    ReadStats,
    read_open_ports,
    targets_from_results,
)
from pacsaudit.targets.spec import AddressSpace, SourcedEntry, Target, read_entries

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

MAX_TABLE_ROWS = 500
NO_PREDIAL = frozenset({"smb"})
"""Probes that connect by other means than pacsaudit's dialer (impacket dials for SMB): the
engine does not connect first for them, which would open a second connection."""


@dataclass(frozen=True)
class ScaleOptions:
    """How targets are ordered, split, checkpointed and distributed (``docs/scale.md``)."""

    seed: int | None = None
    """Seeds the walk's order; drawn at random (and saved in the state) when not given."""
    shard: Shard = field(default_factory=Shard)
    """This run's slice, ``--shard I/N``."""
    state: Path | None = None
    """The SQLite state database; None: no checkpoints (output on stdout, or ``--no-state``)."""
    resume: bool = False
    input_format: InputFormat | None = None
    """Set: the input files are ZMap/masscan results (open ports), not target lists."""
    skip_malformed: bool = False
    """Skip and count malformed result lines instead of refusing the file."""
    cluster: str | None = None
    """A Dask scheduler address, or ``local:N`` for a LocalCluster of N worker processes."""
    tasks: int | None = None
    """Shards the cluster runs (default: twice its workers); saved in the state."""

    def validate(self) -> None:
        if self.resume and self.state is None:
            raise UsageError("--resume needs the scan's state: give -o FILE (or --state FILE)")
        if self.tasks is not None and self.tasks < 1:
            raise UsageError("--tasks must be at least 1")


@dataclass(frozen=True)
class ScanPlan:
    space: AddressSpace
    ports: tuple[int, ...]
    engine: EngineOptions
    dicom: DicomOptions
    output: Path | None
    excluded: int = 0
    forced_probe: str | None = None
    fileshare: WalkOptions = field(default_factory=WalkOptions)
    """Bounds of the FTP, SMB and rsync walks."""
    http: HttpOptions = field(default_factory=HttpOptions)
    scale: ScaleOptions = field(default_factory=ScaleOptions)
    results: tuple[Target, ...] | None = None
    """Targets read from ZMap/masscan results (``space`` then only scoped them)."""
    notes: tuple[str, ...] = ()
    """What the blocklist removed and what the result readers skipped, one line each."""

    @property
    def total(self) -> int:
        if self.results is not None:
            return len(self.results)
        return self.space.size() * len(self.ports)

    @property
    def seed(self) -> int:
        return self.scale.seed or 0

    @property
    def fingerprint(self) -> str:
        """The target set and seed, whatever the split: a state of another scan is refused."""
        if self.results is not None:
            return scan_fingerprint("results", _list_fingerprint(self), None)
        return scan_fingerprint("walk", _target_space(self).fingerprint, self.seed)

    def task_shards(self, tasks: int) -> list[Shard]:
        """This run's shard cut into ``tasks`` disjoint shards covering it exactly: shard I/N
        as (I·T + j)/(N·T) for j < T — segments nest, so their union is I/N."""
        base = self.scale.shard
        return [Shard(base.index * tasks + j, base.count * tasks) for j in range(tasks)]

    def source(self, shard: Shard, start: int = 0, redo: Iterable[int] = ()) -> PositionedSource:
        """The positioned targets of one shard, resumed at ``start`` after ``redo``."""
        if self.results is not None:
            fingerprint = _list_fingerprint(self)
            return ListSource(self.results, fingerprint, shard=shard, start=start, redo=redo)
        return WalkSource(_target_space(self), seed=self.seed, shard=shard, start=start, redo=redo)


_SPACES: dict[int, tuple[AddressSpace, TargetSpace]] = {}
_LISTS: dict[int, tuple[tuple[Target, ...], str]] = {}


def _target_space(plan: ScanPlan) -> TargetSpace:
    """One TargetSpace per address space and ports (its fingerprint hashes every interval)."""
    cached = _SPACES.get(id(plan.space))
    if cached is None or cached[0] is not plan.space or cached[1].ports != plan.ports:
        cached = _SPACES[id(plan.space)] = (plan.space, TargetSpace(plan.space, plan.ports))
    return cached[1]


def _list_fingerprint(plan: ScanPlan) -> str:
    assert plan.results is not None
    cached = _LISTS.get(id(plan.results))
    if cached is None or cached[0] is not plan.results:
        fingerprint = list_fingerprint(plan.results, plan.ports)
        cached = _LISTS[id(plan.results)] = (plan.results, fingerprint)
    return cached[1]


PROBE_PORTS: dict[str, tuple[int, ...]] = {
    "dicom": DICOM_PORTS,
    "dicom-tls": (),
    "ftp": FTP_PORTS,
    "smb": SMB_PORTS,
    "rsync": RSYNC_PORTS,
    "http": HTTP_PORTS,
    "https": (),
}
"""Every probe by name (the registry's order), with the ports it claims: what the dispatcher
needs to know before deciding which probes to build. Each probe class declares the same ports
(``default_ports``, from the same constants; a test keeps them in step)."""
PROBE_NAMES = tuple(PROBE_PORTS)
"""What ``--probe`` accepts."""
PROBE_PROTOCOLS: dict[str, str] = {name: name for name in PROBE_NAMES} | {"dicom-tls": "dicom"}
"""The protocol each probe's findings name (the probes' ``name``; a test keeps them in step)."""


# One builder per probe: a probe's module (and the libraries it needs: httpx, impacket, aioftp,
# pydicom, cryptography) is imported only when a scan may run that probe.


def _dicom_probe(plan: ScanPlan) -> Probe:
    from pacsaudit.probes.dicom.probe import DicomProbe

    return DicomProbe(plan.dicom)


def _dicom_tls_probe(plan: ScanPlan) -> Probe:
    from pacsaudit.probes.dicom.probe import DicomTlsProbe

    return DicomTlsProbe(plan.dicom)


def _ftp_probe(plan: ScanPlan) -> Probe:
    from pacsaudit.probes.fileshare.ftp import FtpProbe

    return FtpProbe(plan.fileshare)


def _smb_probe(plan: ScanPlan) -> Probe:
    from pacsaudit.probes.fileshare.smb import SmbProbe

    return SmbProbe(plan.fileshare)


def _rsync_probe(plan: ScanPlan) -> Probe:
    from pacsaudit.probes.fileshare.rsync import RsyncProbe

    return RsyncProbe(plan.fileshare)


def _http_probe(plan: ScanPlan) -> Probe:
    from pacsaudit.probes.http.probe import HttpProbe

    return HttpProbe(plan.http)


def _https_probe(plan: ScanPlan) -> Probe:
    from pacsaudit.probes.http.probe import HttpsProbe

    return HttpsProbe(plan.http)


_BUILDERS: dict[str, Callable[[ScanPlan], Probe]] = {
    "dicom": _dicom_probe,
    "dicom-tls": _dicom_tls_probe,
    "ftp": _ftp_probe,
    "smb": _smb_probe,
    "rsync": _rsync_probe,
    "http": _http_probe,
    "https": _https_probe,
}


def build_probes(plan: ScanPlan, names: Iterable[str] | None = None) -> dict[str, Probe]:
    """The probes named (default: every probe), configured from the plan, in registry order."""
    wanted = PROBE_NAMES if names is None else frozenset(names)
    return {name: _BUILDERS[name](plan) for name in PROBE_NAMES if name in wanted}


def probes_needed(ports: Iterable[int], forced: str | None = None) -> tuple[str, ...]:
    """The probes a scan of these ports may run, in registry order.

    ``--probe`` runs one probe everywhere. Otherwise a port claimed by exactly one probe goes
    to it; a port claimed by none or by several is identified by the peer's first answer,
    which may hand it to any probe, so then every probe is needed.
    """
    if forced is not None:
        return (forced,)
    wanted: set[str] = set()
    for port in set(ports):
        claim = [name for name, claimed in PROBE_PORTS.items() if port in claimed]
        if len(claim) != 1:
            return PROBE_NAMES
        wanted.add(claim[0])
    return tuple(name for name in PROBE_NAMES if name in wanted)


def scan_probes(plan: ScanPlan) -> dict[str, Probe]:
    """The probes this plan's targets may need (see :func:`probes_needed`), each built on its
    first use: a scan that never reaches a probe never imports it (a closed-port sweep, or the
    followers of an unclaimed port that answers DICOM)."""
    ports = plan.ports if plan.results is None else {t.port for t in plan.results}
    probes: dict[str, Probe] = {}
    for name in probes_needed(ports, plan.forced_probe):
        probes[name] = _OnFirstUse(name, plan, probes)
    return probes


class _OnFirstUse:
    """Stands for a probe until its first scan, which builds the probe — importing its module
    and the libraries behind it — and puts it in the stand-in's place, so later scans go
    straight to it.

    The import runs on the loop, once per probe and process: it holds the loop for up to a
    tenth of a second (httpx, impacket), during which answers wait; a peer answering within
    that much of a timeout may then be reported as timed out. Importing on a worker thread
    instead would race the loop's own imports (pydicom's circular ones among them)."""

    def __init__(self, key: str, plan: ScanPlan, probes: dict[str, Probe]) -> None:
        self._key = key
        self._plan = plan
        self._probes = probes

    @property
    def name(self) -> str:
        return PROBE_PROTOCOLS[self._key]

    @property
    def description(self) -> str:
        return f"the {self._key} probe, built on its first use"

    @property
    def default_ports(self) -> tuple[int, ...]:
        return PROBE_PORTS[self._key]

    async def scan(self, target: Target) -> Finding:
        probe = self._probes[self._key]
        if probe is self:
            probe = self._probes[self._key] = _BUILDERS[self._key](self._plan)
        return await probe.scan(target)


def default_scan_ports() -> tuple[int, ...]:
    """The union of every probe's ports: what ``scan`` probes without ``-p``."""
    return tuple(sorted({port for ports in PROBE_PORTS.values() for port in ports}))


def read_target_file(path: str) -> list[SourcedEntry]:
    """Entries of a file, or of standard input for ``-``; unreadable files are usage errors."""
    if path == "-":
        return list(read_entries(sys.stdin, "stdin"))
    try:
        with open(path, encoding="utf-8") as fh:
            return list(read_entries(fh, path))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read target file {path}: {reason}") from None


def _no_results_message(files: list[ReadStats], tally: ReadStats, named: bool) -> str:
    """Why result files gave nothing to probe, in the user's terms: nothing open in them,
    everything outside the scope (and how to widen it), or a file cut before any record."""
    why = "; ".join(w for st in files for w in st.warnings())
    if tally.out_of_scope:
        hint = (
            "they lie outside the targets named"
            if named
            else "private, reserved or blocklisted addresses are probed only when named as "
            "targets (e.g. pacsaudit scan 10.0.0.0/8 -i FILE)"
        )
        return (
            f"no targets: all {tally.out_of_scope:,} open port(s) in the result files are out "
            f"of scope: {hint}"
        )
    return "no targets: the result files hold no open TCP port" + (f" ({why})" if why else "")


def make_plan(
    *,
    targets: Iterable[str],
    input_files: Iterable[str],
    exclude_files: Iterable[str],
    ports: tuple[int, ...] | None,
    engine: EngineOptions,
    dicom: DicomOptions,
    output: Path | None,
    forced_probe: str | None = None,
    fileshare: WalkOptions | None = None,
    http: HttpOptions | None = None,
    scale: ScaleOptions | None = None,
) -> ScanPlan:
    """Every check before the first packet: options, targets against the blocklist and the
    user's exclusions, result files, the seed, and the saved state when resuming.

    ``ports=None`` means the probes' default ports (and, for result files, every port the
    file names); result files are read here, entirely, so a malformed one fails now.
    """
    scale = scale or ScaleOptions()
    scale.validate()
    if forced_probe is not None and forced_probe not in PROBE_NAMES:
        raise UsageError(f"unknown probe {forced_probe!r}: one of {', '.join(PROBE_NAMES)}")
    try:
        engine.validate()
        dicom.validate()
        if fileshare is not None:
            fileshare.validate()
        if http is not None:
            http.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    port_list = ports or default_scan_ports()
    entries: list[SourcedEntry] = []
    for n, text in enumerate(targets, 1):
        if text == "-":
            entries.extend(read_target_file("-"))
        else:
            entries.append(SourcedEntry(text, f"argument {n}"))
    files = list(input_files)
    if scale.input_format is None:
        for path in files:
            entries.extend(read_target_file(path))
    blocklist = load_blocklist(exclude_files)
    results: tuple[Target, ...] | None = None
    notes: list[str] = []
    if scale.input_format is not None:
        if not files:
            raise UsageError("--input-format reads result files: give them with -i FILE")
        scope = blocklist.scope(entries) if entries else blocklist.everywhere()
        stats = [ReadStats("stdin" if path == "-" else path) for path in files]
        found = itertools.chain.from_iterable(
            read_open_ports(path, scale.input_format, strict=not scale.skip_malformed, stats=st)
            for path, st in zip(files, stats, strict=True)
        )
        port_filter = set(ports) if ports is not None else None
        tally = ReadStats("results")
        results = tuple(
            targets_from_results(found, port_list, scope, port_filter=port_filter, stats=tally)
        )
        for st in stats:
            notes.extend(st.warnings())
        if tally.out_of_scope:
            notes.append(
                f"{tally.out_of_scope:,} result(s) outside the targets or blocklisted, not probed"
            )
        if not results:
            raise UsageError(_no_results_message(stats, tally, bool(entries)))
    else:
        if not entries:
            raise UsageError("no targets: give addresses, ranges, CIDR blocks or host names")
        scope = blocklist.scope(entries)
        if scope.space.size() == 0:
            why = "; ".join(scope.describe()[:3])
            raise UsageError("no targets left after exclusions" + (f": {why}" if why else ""))
    notes[:0] = scope.describe()
    seed = scale.seed
    if scale.resume:
        assert scale.state is not None
        state = ScanState.load(scale.state)
        try:
            saved = int(state.meta().get("seed", "0"))
        finally:
            state.close()
        if seed is not None and seed != saved:
            raise StateError(
                f"--seed {seed} differs from the seed {saved} of the scan saved in {scale.state}"
            )
        seed = saved
    elif seed is None:
        seed = secrets.randbits(64)
    plan = ScanPlan(
        space=scope.space,
        ports=port_list,
        engine=engine,
        dicom=dicom,
        output=output,
        excluded=scope.excluded,
        forced_probe=forced_probe,
        fileshare=fileshare or WalkOptions(),
        http=http or HttpOptions(),
        scale=dataclasses.replace(scale, seed=seed),
        results=results,
        notes=tuple(notes),
    )
    check_state(plan)
    return plan


def check_state(plan: ScanPlan) -> None:
    """Refuse, before any packet, a state that cannot serve this run: on ``--resume`` one of
    another scan (targets, exclusions, ports, seed or shard differ); otherwise an unfinished
    scan's state or a file that is not a state (a new scan would replace it)."""
    path = plan.scale.state
    if path is None:
        return
    if not plan.scale.resume:
        if path.exists():
            ScanState.check_replaceable(path)
        return
    state = ScanState.load(path)
    try:
        meta = state.meta()
    finally:
        state.close()
    if meta.get("fingerprint") != plan.fingerprint:
        raise StateError(
            f"{path} belongs to another scan: the targets, exclusions, result files, ports or "
            "seed differ from the ones it was saved with"
        )
    if meta.get("shard") != str(plan.scale.shard):
        raise StateError(f"{path} was saved as shard {meta.get('shard')}, not {plan.scale.shard}")


def describe_plan(plan: ScanPlan, *, tasks: int | None = None) -> list[str]:
    """What ``--dry-run`` prints: how many targets, how the shards split them, the seed."""
    addresses = plan.space.size() if plan.results is None else len({t.ip for t in plan.results})
    kind = "result-file targets" if plan.results is not None else "targets"
    lines = [
        f"{kind}: {plan.total:,} ({addresses:,} addresses x {len(plan.ports)} port(s))",
        f"excluded before scanning: {plan.excluded:,} address(es)",
        *plan.notes,
        f"seed: {plan.seed}",
    ]
    shard = plan.scale.shard
    split = plan.task_shards(tasks) if tasks else [shard]
    lines.append(
        f"shards: {shard.count} in all; this run: shard {shard}"
        + (f", as {len(split)} tasks" if tasks else "")
    )
    for part in split[:64]:
        low, high = plan.source(part).count_range()
        count = f"{low:,}" if low == high else f"{low:,} to {high:,}"
        lines.append(f"  shard {part}: {count} targets")
    if len(split) > 64:
        lines.append(f"  … and {len(split) - 64} more")
    return lines


@dataclass
class ScanOutcome:
    stats: ScanStats
    interesting: list[Finding] = field(default_factory=list)
    interrupted: bool = False
    worst_severity: Severity | None = None

    def note(self, finding: Finding) -> None:
        severity = getattr(finding.result, "severity", None)
        if severity is not None and (
            self.worst_severity is None or severity.rank > self.worst_severity.rank
        ):
            self.worst_severity = severity

    def add(self, finding: Finding) -> None:
        """Every finding of this run passes here (the table and ``--fail-on`` read it)."""
        if finding.result is not None:
            self.note(finding)
        if finding.status in INTERESTING and len(self.interesting) < MAX_TABLE_ROWS:
            self.interesting.append(finding)


def execute(plan: ScanPlan, console: Console | None, *, progress: bool = True) -> ScanOutcome:
    """Run the plan to completion (or Ctrl-C); findings and progress are on disk either way.

    With a state, every batch of findings is journalled before it is appended to the output,
    so a crash at any moment loses nothing and ``--resume`` writes nothing twice.
    """
    concurrency = raise_fd_limit(plan.engine.concurrency)
    engine = dataclasses.replace(
        plan.engine,
        concurrency=concurrency,
        predial=True,
        connect_timeout=plan.dicom.dial.connect_timeout,
    )
    outcome = ScanOutcome(ScanStats())
    check_state(plan)
    scale = plan.scale
    with contextlib.ExitStack() as stack:
        client = None
        if scale.cluster is not None:  # unreachable: an error before any file is touched
            from pacsaudit.engine import cluster

            client = stack.enter_context(cluster.connect(scale.cluster))
        _execute(plan, engine, outcome, console if progress else None, client)
    if outcome.stats.finished is None:
        outcome.stats.finished = time.monotonic()
    return outcome


def _execute(
    plan: ScanPlan,
    engine: EngineOptions,
    outcome: ScanOutcome,
    console: Console | None,
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
        else:
            output = OutputFile(plan.output)
            if scale.state is not None:
                state = ScanState.create(scale.state, _state_meta(plan))
        recorder = Recorder(output, state)
        if client is not None:
            from pacsaudit.engine.cluster import run_on_cluster

            run_on_cluster(plan, engine, recorder, outcome, console, client)
        else:
            _execute_here(plan, engine, recorder, outcome, console)
        if state is not None and not outcome.interrupted:
            state.mark_complete()
    finally:
        if output is not None:
            output.close()
        if state is not None:
            state.close()


def _state_meta(plan: ScanPlan) -> dict[str, str]:
    return {
        "fingerprint": plan.fingerprint,
        "seed": str(plan.seed),
        "shard": str(plan.scale.shard),
        "targets": str(plan.total),
        "ports": ",".join(map(str, plan.ports)),
        "input": "results" if plan.results is not None else "walk",
        "output": str(plan.output) if plan.output else "",
    }


@dataclass(frozen=True)
class ShardJob:
    """One shard still to scan: its name in the state, where to resume, what was done."""

    shard: Shard
    start: int = 0
    redo: tuple[int, ...] = ()
    done: int = 0

    @property
    def name(self) -> str:
        return str(self.shard)


def split_tasks(state: ScanState | None, wanted: int | None, default: int) -> int:
    """How many shard tasks this run has: the saved split when resuming (a different
    ``--tasks`` is refused), else ``wanted`` or ``default``, saved for later."""
    if state is None:
        return wanted or default
    saved = state.meta().get("tasks")
    if saved is not None:
        if wanted is not None and wanted != int(saved):
            raise StateError(
                f"--tasks {wanted} differs from the {saved} tasks saved in {state.path}"
            )
        return int(saved)
    tasks = wanted or default
    state.set_meta(tasks=str(tasks))
    return tasks


def shard_jobs(plan: ScanPlan, state: ScanState | None, tasks: int) -> list[ShardJob]:
    """The shards left to scan. A new state gets one row per shard, all at once; a resumed
    one gives each incomplete shard's position and pending positions, checked against the
    shard's own fingerprint (another split, or another walk, is refused)."""
    shards = plan.task_shards(tasks)
    if state is None:
        return [ShardJob(shard) for shard in shards]
    saved = state.shards()
    if not saved:
        sources = [(str(s), plan.source(s)) for s in shards]
        state.add_shards((name, src.fingerprint, src.length) for name, src in sources)
        return [ShardJob(shard) for shard in shards]
    if set(saved) != {str(s) for s in shards}:
        raise StateError(f"{state.path} was saved with another split into shards")
    jobs: list[ShardJob] = []
    for shard in shards:
        source = plan.source(shard)
        progress = saved[str(shard)]
        if progress.fingerprint != source.fingerprint or progress.length != source.length:
            raise StateError(f"{state.path}: shard {shard} was saved for another walk")
        if not progress.complete:
            jobs.append(ShardJob(shard, progress.position, progress.pending, progress.done))
    return jobs


def _execute_here(
    plan: ScanPlan,
    engine: EngineOptions,
    recorder: Recorder,
    outcome: ScanOutcome,
    console: Console | None,
) -> None:
    """Every shard job of this run in this process, one after another."""
    state = recorder.state
    jobs = shard_jobs(plan, state, split_tasks(state, None, 1))
    probe = Dispatcher(scan_probes(plan), forced=plan.forced_probe)
    engine = dataclasses.replace(engine, predial_exempt=NO_PREDIAL)
    done_before = sum(job.done for job in jobs)

    async def main() -> None:
        bar = _progress(console) if console is not None else None
        ticker: asyncio.Task[None] | None = None
        if bar is not None:
            bar.start()
            total = done_before + sum(plan.source(j.shard, j.start).estimate() for j in jobs)
            task = bar.add_task("scanning", total=total, found=0, rate="")
            ticker = asyncio.create_task(_tick(bar, task, outcome.stats, done_before))
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
            if bar is not None:
                bar.refresh()
                bar.stop()

    writer = RecorderThread(recorder)
    runner = asyncio.Runner(loop_factory=new_event_loop_factory())
    try:
        runner.run(main())
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        runner.close()
        writer.close()


def _progress(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[found]} found"),
        TextColumn("[cyan]{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        refresh_per_second=5,
    )


async def _tick(bar: Progress, task: object, stats: ScanStats, done_before: int = 0) -> None:
    while True:
        bar.update(
            task,  # type: ignore[arg-type]
            completed=done_before + stats.done,
            found=stats.found,
            rate=f"{stats.rate:,.0f}/s",
        )
        await asyncio.sleep(0.2)


def summarise(outcome: ScanOutcome, console: Console) -> None:
    from pacsaudit.report.table import print_summary

    print_summary(
        outcome.interesting,
        Counter(outcome.stats.by_status),
        console,
        outcome.stats.elapsed,
        targets=outcome.stats.done,
    )
