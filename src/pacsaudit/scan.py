"""One scan from options to findings on disk: targets → engine → probe → writer.

The CLI builds a :class:`ScanPlan` (which validates everything before any packet is sent) and
calls :func:`execute`; tests and benchmarks call the same two.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from pacsaudit.engine.runner import (
    EngineOptions,
    ScanStats,
    new_event_loop_factory,
    raise_fd_limit,
    run_scan,
)
from pacsaudit.errors import UsageError
from pacsaudit.model import Finding, Severity
from pacsaudit.probes.base import Probe
from pacsaudit.probes.dicom.probe import DicomOptions, DicomProbe, DicomTlsProbe
from pacsaudit.probes.fileshare.ftp import FtpProbe
from pacsaudit.probes.fileshare.rsync import RsyncProbe
from pacsaudit.probes.fileshare.smb import SmbProbe
from pacsaudit.probes.fileshare.walk import WalkOptions
from pacsaudit.probes.http.probe import HttpOptions, HttpProbe, HttpsProbe
from pacsaudit.probes.registry import Dispatcher, default_ports
from pacsaudit.report.jsonl import JsonlWriter
from pacsaudit.report.table import INTERESTING, print_summary
from pacsaudit.targets.spec import (
    AddressSpace,
    SourcedEntry,
    Target,
    apply_exclusions,
    build_space,
    exclusion_set,
    iter_targets,
    read_entries,
)

MAX_TABLE_ROWS = 500


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

    @property
    def total(self) -> int:
        return self.space.size() * len(self.ports)


def build_probes(plan: ScanPlan) -> dict[str, Probe]:
    """Every probe this scan may run, configured from the plan (the registry's contents)."""
    return {
        "dicom": DicomProbe(plan.dicom),
        "dicom-tls": DicomTlsProbe(plan.dicom),
        "ftp": FtpProbe(plan.fileshare),
        "smb": SmbProbe(plan.fileshare),
        "rsync": RsyncProbe(plan.fileshare),
        "http": HttpProbe(plan.http),
        "https": HttpsProbe(plan.http),
    }


PROBE_NAMES = ("dicom", "dicom-tls", "ftp", "smb", "rsync", "http", "https")
"""What ``--probe`` accepts; kept in step with :func:`build_probes` by a test."""


def default_scan_ports() -> tuple[int, ...]:
    return default_ports(build_probes(_DEFAULT_PLAN).values())


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


def make_plan(
    *,
    targets: Iterable[str],
    input_files: Iterable[str],
    exclude_files: Iterable[str],
    ports: tuple[int, ...],
    engine: EngineOptions,
    dicom: DicomOptions,
    output: Path | None,
    forced_probe: str | None = None,
    fileshare: WalkOptions | None = None,
    http: HttpOptions | None = None,
) -> ScanPlan:
    entries: list[SourcedEntry] = []
    for n, text in enumerate(targets, 1):
        if text == "-":
            entries.extend(read_target_file("-"))
        else:
            entries.append(SourcedEntry(text, f"argument {n}"))
    for path in input_files:
        entries.extend(read_target_file(path))
    if not entries:
        raise UsageError("no targets: give addresses, ranges, CIDR blocks or host names")
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
    excluded_space = AddressSpace()
    for path in exclude_files:
        excluded_space = _merge(excluded_space, exclusion_set(read_target_file(path)))
    space = build_space(entries)
    kept = apply_exclusions(space, excluded_space)
    if kept.size() == 0:
        raise UsageError("no targets left after exclusions")
    return ScanPlan(
        space=kept,
        ports=ports,
        engine=engine,
        dicom=dicom,
        output=output,
        excluded=space.size() - kept.size(),
        forced_probe=forced_probe,
        fileshare=fileshare or WalkOptions(),
        http=http or HttpOptions(),
    )


_DEFAULT_PLAN = ScanPlan(
    space=AddressSpace(), ports=(), engine=EngineOptions(), dicom=DicomOptions(), output=None
)


def _merge(a: AddressSpace, b: AddressSpace) -> AddressSpace:
    return AddressSpace(a.v4 | b.v4, a.v6 | b.v6)


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


def execute(plan: ScanPlan, console: Console | None, *, progress: bool = True) -> ScanOutcome:
    """Run the plan to completion (or Ctrl-C); findings are on disk either way."""
    concurrency = raise_fd_limit(plan.engine.concurrency)
    engine = EngineOptions(concurrency=concurrency, host_timeout=plan.engine.host_timeout)
    probe = Dispatcher(build_probes(plan), forced=plan.forced_probe)
    outcome = ScanOutcome(ScanStats())
    with JsonlWriter(plan.output) as writer:

        def on_finding(finding: Finding) -> None:
            writer.write(finding)
            outcome.note(finding)
            if finding.status in INTERESTING and len(outcome.interesting) < MAX_TABLE_ROWS:
                outcome.interesting.append(finding)

        async def main() -> None:
            targets = iter_targets(plan.space, plan.ports)
            flusher = asyncio.create_task(_flush_periodically(writer))
            try:
                await _scan(targets)
            finally:
                flusher.cancel()

        async def _scan(targets: Iterable[Target]) -> None:
            if console is None or not progress:
                await run_scan(targets, probe, engine, on_finding, outcome.stats)
                return
            with _progress(console) as bar:
                task = bar.add_task("scanning", total=plan.total, found=0, rate="")
                ticker = asyncio.create_task(_tick(bar, task, outcome.stats))
                try:
                    await run_scan(targets, probe, engine, on_finding, outcome.stats)
                finally:
                    ticker.cancel()
                    bar.update(task, completed=outcome.stats.done, found=outcome.stats.found)

        runner = asyncio.Runner(loop_factory=new_event_loop_factory())
        try:
            runner.run(main())
        except KeyboardInterrupt:
            outcome.interrupted = True
        finally:
            runner.close()
    if outcome.stats.finished is None:
        outcome.stats.finished = time.monotonic()
    return outcome


async def _flush_periodically(writer: JsonlWriter, interval: float = 0.5) -> None:
    """Findings reach the disk within ``interval`` even when they trickle in slowly."""
    while True:
        await asyncio.sleep(interval)
        writer.flush()


def _progress(console: Console) -> Progress:
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


async def _tick(bar: Progress, task: object, stats: ScanStats) -> None:
    while True:
        bar.update(
            task,  # type: ignore[arg-type]
            completed=stats.done,
            found=stats.found,
            rate=f"{stats.rate:,.0f}/s",
        )
        await asyncio.sleep(0.2)


def summarise(outcome: ScanOutcome, console: Console) -> None:
    print_summary(
        outcome.interesting, Counter(outcome.stats.by_status), console, outcome.stats.elapsed
    )
