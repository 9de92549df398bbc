"""The contract every protocol probe fulfils (after ZGrab2's ``ScanModule``).

A probe knows one protocol. The engine owns targets, concurrency, deadlines and output; a probe
only turns one :class:`~pacsaudit.targets.spec.Target` into one
:class:`~pacsaudit.model.Finding`, returning partial results together with the error instead
of raising. Probes never write output and never decide what may be kept of a peer's data
beyond what their result type can hold.
"""

from __future__ import annotations

import time
from typing import Protocol

from pacsaudit.model import ErrorInfo, Finding, Result, Status, utc_timestamp
from pacsaudit.targets.spec import Target


def finding(
    protocol: str,
    target: Target,
    started: float,
    status: Status,
    result: Result | None = None,
    error: ErrorInfo | None = None,
) -> Finding:
    """The envelope every probe returns; ``started`` is a ``time.perf_counter()`` value."""
    return Finding(
        ip=target.ip,
        port=target.port,
        protocol=protocol,
        status=status,
        timestamp=utc_timestamp(),
        result=result,
        error=error,
        host=target.host,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )


class Probe(Protocol):
    # Class attributes in every probe; read-only properties here, so that a stand-in (a probe
    # built on its first use, see ``scan.scan_probes``) can answer them too.
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
