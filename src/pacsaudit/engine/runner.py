"""The scan engine's options, statistics and its simplest entry point, :func:`run_scan`.

Targets are consumed from an iterator as slots free up, so memory stays flat whatever the size
of the target space, and the event loop never holds more than ``concurrency`` probes. The engine
never raises for a single target: any exception a probe lets escape becomes an ``error``
finding, so one bad peer cannot stop a scan. The machinery is :class:`~pacsaudit.engine.sweep.
Sweep`; :func:`run_scan` runs it over plain targets, :mod:`pacsaudit.scan` over positioned,
checkpointed ones.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pacsaudit.model import ErrorInfo, Finding, Status, utc_timestamp
from pacsaudit.probes.base import Probe
from pacsaudit.targets.spec import Target

FD_RESERVE = 64
"""File descriptors kept free for output files, logs and the lab's subprocess pipes."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    concurrency: int = 512
    """Targets in flight at once (dialing or probing)."""
    host_timeout: float = 30.0
    """Budget for probing one ip:port, all attempts included."""
    connect_timeout: float = 3.0
    """How long the engine's own dial waits for the TCP handshake (``predial``)."""
    predial: bool = False
    """Connect to each target before starting its probe: closed and filtered ports are then
    reported without a coroutine, and the probe's first dial takes the connected socket. Only
    for probes that dial through :mod:`pacsaudit.engine.stream`; others would see a second
    connection."""
    predial_exempt: frozenset[str] = frozenset()
    """Protocols (as the closed finding would name them) never pre-dialed: their probes
    connect by other means."""
    rate: float | None = None
    """New TCP connections per second, all targets and probes together (None: unlimited)."""
    per_network: int | None = None
    """Targets in flight at once per IPv4 /24 (IPv6 /64); None: no cap."""

    def validate(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.host_timeout <= 0:
            raise ValueError("host timeout must be positive")
        if self.connect_timeout <= 0:
            raise ValueError("connect timeout must be positive")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.per_network is not None and self.per_network < 1:
            raise ValueError("per-network cap must be at least 1")


@dataclass(slots=True)
class ScanStats:
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    finished: float | None = None
    peak_in_flight: int = 0
    """Most targets dialing or probing at once."""
    peak_probing: int = 0
    """Most probes running at once (each holding at least one open connection)."""

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
    from pacsaudit.engine.sweep import Sweep  # the sweep imports this module's types

    def on_done(_position: int, _target: Target, findings: list[Finding]) -> None:
        for finding in findings:
            on_finding(finding)

    sweep = Sweep(probe, options, on_done, stats=stats)
    return await sweep.run(enumerate(targets))


def error_finding(
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
