"""The contract every protocol probe fulfils (after ZGrab2's ``ScanModule``).

A probe knows one protocol. The engine owns targets, concurrency, deadlines and output; a probe
only turns one :class:`~pacsaudit.targets.spec.Target` into one
:class:`~pacsaudit.model.Finding`, returning partial results together with the error instead
of raising. Probes never write output and never decide what may be kept of a peer's data
beyond what their result type can hold.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from pacsaudit.model import Finding
from pacsaudit.targets.spec import Target


class Probe(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]
    default_ports: ClassVar[tuple[int, ...]]

    async def scan(self, target: Target) -> Finding:
        """Probe one target; must not raise except for cancellation."""
        ...
