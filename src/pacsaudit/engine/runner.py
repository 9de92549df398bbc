"""The scan engine: a bounded pool of workers pulling targets lazily, one time budget each.

Why a pool and not a task per target: targets are consumed from an iterator as workers free
up, so memory stays flat whatever the size of the target space, and the event loop never holds
more than ``concurrency`` probe coroutines. The engine never raises for a single target: any
exception a probe lets escape becomes an ``error`` finding, so one bad peer cannot stop a scan.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pacsaudit.errors import classify
from pacsaudit.model import ErrorInfo, ErrorKind, Finding, Status, utc_timestamp
from pacsaudit.probes.base import Probe
from pacsaudit.targets.spec import Target

log = logging.getLogger(__name__)

FD_RESERVE = 64
"""File descriptors kept free for output files, logs and the lab's subprocess pipes."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    concurrency: int = 512
    host_timeout: float = 30.0
    """Budget for probing one ip:port, all attempts included."""

    def validate(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.host_timeout <= 0:
            raise ValueError("host timeout must be positive")


@dataclass(slots=True)
class ScanStats:
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    finished: float | None = None

    @property
    def found(self) -> int:
        """Targets where a service answered (any protocol's own status, or open-not-dicom)."""
        silent = (Status.CLOSED, Status.FILTERED, Status.ERROR)
        return sum(n for status, n in self.by_status.items() if status not in silent)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit towards the hard one; return how many probes fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + FD_RESERVE)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(1, min(wanted, soft - FD_RESERVE))


@runtime_checkable
class MultiProbe(Protocol):
    """A probe that may return several findings for one target (the registry's dispatcher)."""

    @property
    def name(self) -> str: ...

    async def scan_all(self, target: Target) -> list[Finding]: ...


async def run_scan(
    targets: Iterable[Target],
    probe: Probe | MultiProbe,
    options: EngineOptions,
    on_finding: Callable[[Finding], None],
    stats: ScanStats | None = None,
) -> ScanStats:
    """Probe every target once; ``on_finding`` receives each finding as soon as it is made."""
    stats = stats or ScanStats()
    iterator = iter(targets)
    budget = options.host_timeout
    scan_all = probe.scan_all if isinstance(probe, MultiProbe) else None
    scan_one = probe.scan if scan_all is None and not isinstance(probe, MultiProbe) else None

    async def probe_one(target: Target) -> list[Finding]:
        deadline = asyncio.timeout(budget)
        try:
            async with deadline:
                if scan_all is not None:
                    return await scan_all(target)
                assert scan_one is not None
                return [await scan_one(target)]
        except Exception as exc:  # a probe bug must not end the scan
            if isinstance(exc, TimeoutError) and deadline.expired():
                error = ErrorInfo(ErrorKind.BUDGET_EXCEEDED, "host time budget spent")
                return [_error_finding(probe.name, target, error)]
            log.debug(
                "probe %s failed on %s:%d: %s",
                probe.name,
                target.ip,
                target.port,
                type(exc).__name__,
            )
            classified = classify(exc)
            return [_error_finding(probe.name, target, classified.error, classified.status)]

    async def worker() -> None:
        for target in iterator:
            findings = await probe_one(target)
            stats.done += 1
            for finding in findings:
                stats.by_status[finding.status] += 1
                on_finding(finding)

    workers = [asyncio.create_task(worker()) for _ in range(options.concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        stats.finished = time.monotonic()
    return stats


def _error_finding(
    protocol: str, target: Target, error: ErrorInfo | None, status: Status = Status.ERROR
) -> Finding:
    return Finding(
        ip=target.ip,
        port=target.port,
        protocol=protocol if protocol != "auto" else "dicom",
        status=status,
        timestamp=utc_timestamp(),
        error=error,
        host=target.host,
    )


def new_event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed (several times faster per connection), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
