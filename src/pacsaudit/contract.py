"""What the engine and every probe agree on (after ZGrab2's ``ScanModule``), and nothing else.

A probe knows one protocol. The engine owns targets, concurrency, deadlines and output; a probe
only turns one :class:`~pacsaudit.targets.spec.Target` into one
:class:`~pacsaudit.model.Finding`, returning partial results together with the error instead
of raising. Probes never write output and never decide what may be kept of a peer's data
beyond what their result type can hold.

This module sits below both the engine and the probes so that neither imports the other: the
engine drives anything that has this shape (a probe, or the dispatcher that chooses among
them), and every finding of the scan — a probe's, or the engine's own for a closed port — is
built by the one constructor here, :func:`make_finding`.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from pacsaudit.model import ErrorInfo, Finding, Result, Status, utc_timestamp
from pacsaudit.targets.spec import Target


def make_finding(
    protocol: str,
    target: Target,
    started: float | None,
    status: Status,
    result: Result | None = None,
    error: ErrorInfo | None = None,
) -> Finding:
    """The envelope of every finding; ``started`` is the ``time.perf_counter()`` value at which
    the work on this target began (None: no duration is recorded, e.g. a budget cut)."""
    duration = None if started is None else round((time.perf_counter() - started) * 1000, 3)
    return Finding(
        target.ip,
        target.port,
        protocol,
        status,
        utc_timestamp(),
        result,
        error,
        target.host,
        duration,
    )


class Probe(Protocol):
    """One protocol's scan of one target."""

    # Class attributes in every probe; read-only properties here, so that a stand-in (a probe
    # built on its first use, see :mod:`pacsaudit.probes.catalog`) can answer them too.
    @property
    def name(self) -> str:
        """The protocol its findings name."""
        ...

    @property
    def description(self) -> str: ...

    @property
    def default_ports(self) -> tuple[int, ...]: ...

    async def scan(self, target: Target) -> Finding:
        """Probe one target; must not raise except for cancellation."""
        ...


@runtime_checkable
class MultiProbe(Protocol):
    """What may return several findings for one target (the dispatcher, which tries the probe
    a port's first answer points to), and tells the engine what it needs before any probe
    runs."""

    @property
    def name(self) -> str: ...

    def protocol_for(self, port: int) -> str:
        """The protocol a closed or filtered finding for this port names (the probe the port
        would have gone to)."""
        ...

    def predials(self, port: int) -> bool:
        """Whether the engine may connect first for this port and hand the probe the socket
        (False where the probe's library opens its own connections, as impacket does)."""
        ...

    async def scan_all(self, target: Target) -> list[Finding]: ...
