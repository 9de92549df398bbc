"""The engine's options and statistics, and the process-level settings a run needs (the
open-file limit, the event loop).

Apart from :mod:`pacsaudit.engine.sweep` and :mod:`pacsaudit.engine.runner` so that both, and
the plan and run layers above, import them without importing each other.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import resource
import time
from collections import Counter
from collections.abc import Callable, Mapping

import msgspec

from pacsaudit.model import Status

FD_RESERVE = 64
"""File descriptors kept free for output files, logs and the lab's subprocess pipes."""
MAX_PROCESSES = 256
"""The most scanning processes one run starts on this machine (``--processes``)."""


class EngineOptions(msgspec.Struct, frozen=True):
    concurrency: int = 512
    """Targets in flight at once (dialing or probing)."""
    host_timeout: float = 30.0
    """Budget for probing one ip:port, all attempts included."""
    connect_timeout: float = 3.0
    """How long the engine's own dial waits for the TCP handshake (``predial``); with
    ``adaptive_timeout``, the upper bound of the timeout."""
    adaptive_timeout: bool = False
    """Derive the dial's timeout from measured round trips (:mod:`pacsaudit.engine.rtt`)
    instead of waiting ``connect_timeout`` for every silent address."""
    max_probing: int | None = None
    """Probes running at once, at most (None: ``concurrency``). Lets a wide window of cheap
    dials (silent addresses) coexist with a CPU-bound number of probes: a connected target
    waits for a probe slot, and no new target is dialed while one waits."""
    auto_window: bool = False
    """Size ``concurrency`` from the open-file limit and ``rate``
    (:func:`pacsaudit.engine.rtt.in_flight_window`) instead of taking it as given."""
    predial: bool = False
    """Connect to each target before starting its probe: closed and filtered ports are then
    reported without a coroutine, and the probe's first dial takes the connected socket. Only
    for probes that dial through :mod:`pacsaudit.net.stream`: a dispatcher says per port
    (:meth:`~pacsaudit.contract.MultiProbe.predials`) where its probe dials by other means."""
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
        if self.max_probing is not None and self.max_probing < 1:
            raise ValueError("max probing must be at least 1")
        if self.per_network is not None and self.per_network < 1:
            raise ValueError("per-network cap must be at least 1")


class ScanStats(msgspec.Struct):
    started: float = msgspec.field(default_factory=time.monotonic)
    done: int = 0
    by_status: Counter[str] = msgspec.field(default_factory=Counter)
    finished: float | None = None
    peak_in_flight: int = 0
    """Most targets dialing or probing at once."""
    peak_probing: int = 0
    """Most probes running at once (each holding at least one open connection)."""
    connect_timeout: float | None = None
    """The engine's connect timeout at the end (adaptive: the last one it derived)."""
    srtt: float | None = None
    """Smoothed round trip of the answers (adaptive timing only)."""
    rtt_samples: int = 0
    late_answers: int = 0
    """Answers after the adaptive timeout, seen by connects that waited longer: each one a
    host a timeout that short would have missed (each widened the timeout)."""
    retried: int = 0
    """Targets dialed a second time because the first connect timed out early."""
    retry_answers: int = 0
    """Of those, how many answered the second connect: found only thanks to the retry."""

    def timing(self) -> dict[str, float | int | None]:
        """The timing counters, as plain values a cluster task sends back with its last batch."""
        return {name: getattr(self, name) for name in _TIMING}

    def absorb(self, timing: Mapping[str, float | int | None]) -> None:
        """Add one cluster task's timing counters to the scan's: counts add up, peaks and the
        connect timeout keep the largest (each task runs its own window and estimator), the
        smoothed round trip is the mean weighted by samples."""
        samples = int(timing.get("rtt_samples") or 0)
        srtt = timing.get("srtt")
        if srtt is not None and samples:
            mine = self.srtt if self.srtt is not None else 0.0
            self.srtt = (mine * self.rtt_samples + float(srtt) * samples) / (
                self.rtt_samples + samples
            )
        for name in ("rtt_samples", "late_answers", "retried", "retry_answers"):
            setattr(self, name, getattr(self, name) + int(timing.get(name) or 0))
        for name in ("peak_in_flight", "peak_probing"):
            setattr(self, name, max(getattr(self, name), int(timing.get(name) or 0)))
        timeout = timing.get("connect_timeout")
        if timeout is not None:
            self.connect_timeout = max(self.connect_timeout or 0.0, float(timeout))

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


_TIMING = (
    "peak_in_flight",
    "peak_probing",
    "connect_timeout",
    "srtt",
    "rtt_samples",
    "late_answers",
    "retried",
    "retry_answers",
)


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


def reserve_descriptor_table(window: int) -> None:
    """Size this process's descriptor table for ``window`` sockets at once, before it starts a
    thread.

    Linux grows the table by doubling as descriptors are opened, and in a process with more
    than one thread (the recorder's, the frame writer's, io_uring's workers) every growth
    waits for an RCU grace period (``synchronize_rcu`` in ``expand_fdtable``): 4-20 ms asleep
    here, five times for a shard's 2,048 sockets, all inside the dial burst. A table never
    shrinks, so one descriptor duplicated to the top and closed again is enough; it costs
    8 bytes and two bits a slot. ``F_DUPFD`` takes the lowest free number at or above the
    top, so no open descriptor is touched.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = min(window + FD_RESERVE, soft) - 1
    try:
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.close(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, top))
    except OSError:
        pass  # no room at the top (the limit is lower than asked): the table grows as it may
    finally:
        os.close(fd)


def new_event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed (several times faster per connection), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
