"""A scan's plan: every check before the first packet, and what the run needs to know.

The CLI builds a :class:`ScanPlan` with :func:`make_plan` — which validates everything before
any packet is sent: targets against the blocklist, the seed, the shard, the saved state when
resuming — and hands it to :func:`pacsaudit.run.execute`; tests and benchmarks call the same
two. Targets come from the seeded cyclic-group walk over the address space (one shard of it),
or from the open ports a SYN scanner found (``--input-format``).
"""

from __future__ import annotations

import itertools
import secrets
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from pacsaudit.engine.options import MAX_PROCESSES, EngineOptions
from pacsaudit.engine.sources import PositionedSource, WalkSource, scan_fingerprint
from pacsaudit.engine.state import ScanState, StateError
from pacsaudit.probes.catalog import PROBE_NAMES, default_scan_ports
from pacsaudit.probes.dicom.options import DicomOptions
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.http.options import HttpOptions
from pacsaudit.targets.blocklist import Blocklist, Scope, load_blocklist
from pacsaudit.targets.compact import LIST_ALGORITHM, TargetList, compact_targets
from pacsaudit.targets.permutation import Shard, TargetSpace
from pacsaudit.targets.readers import InputFormat, ReadStats, read_open_ports
from pacsaudit.targets.spec import AddressSpace, SourcedEntry, read_entries
from pacsaudit.usage import UsageError


class ScaleOptions(msgspec.Struct, frozen=True):
    """How targets are ordered, split, checkpointed and distributed (``docs/scale.md``)."""

    seed: int | None = None
    """Seeds the walk's order; drawn at random (and saved in the state) when not given."""
    shard: Shard = msgspec.field(default_factory=Shard)
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
    """Shards the run is cut into (default: one per process here, twice the workers on a
    cluster); saved in the state."""
    processes: int | None = None
    """Processes scanning on this machine (None: one per core for a large run)."""

    def validate(self) -> None:
        if self.resume and self.state is None:
            raise UsageError("--resume needs the scan's state: give -o FILE (or --state FILE)")
        if self.tasks is not None and self.tasks < 1:
            raise UsageError("--tasks must be at least 1")
        if self.processes is not None and not 1 <= self.processes <= MAX_PROCESSES:
            raise UsageError(f"--processes must be from 1 to {MAX_PROCESSES}")
        if self.processes is not None and self.cluster is not None:
            raise UsageError(
                "--processes is for a scan on this machine; on a cluster its workers are the "
                "processes (local:N for N here)"
            )


class ScanPlan(msgspec.Struct, frozen=True):
    space: AddressSpace
    ports: tuple[int, ...]
    engine: EngineOptions
    dicom: DicomOptions
    output: Path | None
    excluded: int = 0
    forced_probe: str | None = None
    fileshare: WalkOptions = msgspec.field(default_factory=WalkOptions)
    """Bounds of the FTP, SMB and rsync walks."""
    http: HttpOptions = msgspec.field(default_factory=HttpOptions)
    scale: ScaleOptions = msgspec.field(default_factory=ScaleOptions)
    results: TargetList | None = None
    """Targets read from ZMap/masscan results (``space`` then only scoped them), packed and
    walked in the seeded order like an address space."""
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
            return scan_fingerprint(LIST_ALGORITHM, self.results.fingerprint, self.seed)
        return scan_fingerprint("walk", _target_space(self).fingerprint, self.seed)

    def task_shards(self, tasks: int) -> list[Shard]:
        """This run's shard cut into ``tasks`` disjoint shards covering it exactly: shard I/N
        as (I·T + j)/(N·T) for j < T — segments nest, so their union is I/N."""
        base = self.scale.shard
        return [Shard(base.index * tasks + j, base.count * tasks) for j in range(tasks)]

    def source(self, shard: Shard, start: int = 0, redo: Iterable[int] = ()) -> PositionedSource:
        """The positioned targets of one shard, resumed at ``start`` after ``redo``."""
        if self.results is not None:
            return WalkSource(self.results, seed=self.seed, shard=shard, start=start, redo=redo)
        return WalkSource(_target_space(self), seed=self.seed, shard=shard, start=start, redo=redo)


_SPACES: dict[int, tuple[AddressSpace, TargetSpace]] = {}


def _target_space(plan: ScanPlan) -> TargetSpace:
    """One TargetSpace per address space and ports (its fingerprint hashes every interval)."""
    cached = _SPACES.get(id(plan.space))
    if cached is None or cached[0] is not plan.space or cached[1].ports != plan.ports:
        cached = _SPACES[id(plan.space)] = (plan.space, TargetSpace(plan.space, plan.ports))
    return cached[1]


def read_target_file(path: str) -> list[SourcedEntry]:
    """Entries of a file, or of standard input for ``-``; unreadable files are usage errors."""
    return list(iter_target_file(path))


def iter_target_file(path: str) -> Iterator[SourcedEntry]:
    """Entries of a file, or of standard input for ``-``, streamed (a file of millions of
    lines is never held as entries); unreadable files are usage errors."""
    if path == "-":
        yield from read_entries(sys.stdin, "stdin")
        return
    try:
        with open(path, encoding="utf-8") as fh:
            yield from read_entries(fh, path)
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
    files = list(input_files)
    # Streamed into the scope, never listed: a target file may hold millions of lines.
    entries = _Counted(_named_entries(targets, () if scale.input_format else files))
    blocklist = load_blocklist(exclude_files)
    results: TargetList | None = None
    notes: list[str] = []
    if scale.input_format is not None:
        scope, results = _scope_results(entries, files, blocklist, ports, port_list, scale, notes)
    else:
        scope = blocklist.scope(entries)
        if not entries.count:
            raise UsageError("no targets: give addresses, ranges, CIDR blocks or host names")
        if scope.space.size() == 0:
            why = "; ".join(scope.describe()[:3])
            raise UsageError("no targets left after exclusions" + (f": {why}" if why else ""))
    notes[:0] = scope.describe()
    seed = _scan_seed(scale)
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
        scale=msgspec.structs.replace(scale, seed=seed),
        results=results,
        notes=tuple(notes),
    )
    check_state(plan)
    return plan


def _named_entries(targets: Iterable[str], files: Iterable[str]) -> Iterator[SourcedEntry]:
    """The targets named on the command line (``-``: standard input), then those of the
    target files, streamed."""
    for n, text in enumerate(targets, 1):
        if text == "-":
            yield from iter_target_file("-")
        else:
            yield SourcedEntry(text, f"argument {n}")
    for path in files:
        yield from iter_target_file(path)


class _Counted(Iterator[SourcedEntry]):
    """Passes entries through and counts them: the scope streams the entries, and only
    afterwards does it matter whether there were any."""

    def __init__(self, entries: Iterator[SourcedEntry]) -> None:
        self._entries = entries
        self.count = 0

    def __next__(self) -> SourcedEntry:
        entry = next(self._entries)
        self.count += 1
        return entry


def _scope_results(
    entries: _Counted,
    files: list[str],
    blocklist: Blocklist,
    ports: tuple[int, ...] | None,
    port_list: tuple[int, ...],
    scale: ScaleOptions,
    notes: list[str],
) -> tuple[Scope, TargetList]:
    """The scope the named targets make (everywhere the blocklist allows when none are
    named) and the open ports of the result files inside it, packed; what the readers
    skipped goes to ``notes``."""
    if not files:
        raise UsageError("--input-format reads result files: give them with -i FILE")
    assert scale.input_format is not None
    scope = blocklist.scope(entries)
    if not entries.count:
        scope = blocklist.everywhere()
    stats = [ReadStats("stdin" if path == "-" else path) for path in files]
    found = itertools.chain.from_iterable(
        read_open_ports(path, scale.input_format, strict=not scale.skip_malformed, stats=st)
        for path, st in zip(files, stats, strict=True)
    )
    port_filter = set(ports) if ports is not None else None
    tally = ReadStats("results")
    results = compact_targets(found, port_list, scope, port_filter=port_filter, stats=tally)
    for st in stats:
        notes.extend(st.warnings())
    if tally.out_of_scope:
        notes.append(
            f"{tally.out_of_scope:,} result(s) outside the targets or blocklisted, not probed"
        )
    if not results:
        raise UsageError(_no_results_message(stats, tally, bool(entries.count)))
    return scope, results


def _scan_seed(scale: ScaleOptions) -> int:
    """The seed given, the one saved in the state when resuming (they must agree), or a
    random one."""
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
        return saved
    return seed if seed is not None else secrets.randbits(64)


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
    if meta.get("input") == "results" and meta.get("list") != LIST_ALGORITHM:
        raise StateError(
            f"{path} was saved by an older pacsaudit that probed result files in file order; "
            "this one walks them in the seeded order, so the saved positions mean other "
            "targets: remove the state and scan again"
        )
    if meta.get("fingerprint") != plan.fingerprint:
        raise StateError(
            f"{path} belongs to another scan: the targets, exclusions, result files, ports or "
            "seed differ from the ones it was saved with"
        )
    if meta.get("shard") != str(plan.scale.shard):
        raise StateError(f"{path} was saved as shard {meta.get('shard')}, not {plan.scale.shard}")


def describe_plan(
    plan: ScanPlan, *, tasks: int | None = None, processes: int | None = None
) -> list[str]:
    """What ``--dry-run`` prints: how many targets, how the shards split them, the seed, and
    how many processes scan them here."""
    if plan.results is None:
        shape = f"{plan.space.size():,} addresses x {len(plan.ports)} port(s)"
    else:
        shape = (
            f"{plan.results.addresses:,} addresses: each result's own port, or the "
            f"{len(plan.ports)} port(s) given for a bare address"
        )
    kind = "result-file targets" if plan.results is not None else "targets"
    lines = [
        f"{kind}: {plan.total:,} ({shape})",
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
    if processes is not None:
        lines.append(f"processes on this machine: {processes}")
    return lines
