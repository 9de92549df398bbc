"""The engine's simplest entry point, :func:`run_scan`: plain targets in, findings out.

Targets are consumed from an iterator as slots free up, so memory stays flat whatever the size
of the target space, and the event loop never holds more than ``concurrency`` probes. The engine
never raises for a single target: any exception a probe lets escape becomes an ``error``
finding, so one bad peer cannot stop a scan. The machinery is :class:`~pacsaudit.engine.sweep.
Sweep`; :func:`run_scan` runs it over plain targets, :mod:`pacsaudit.run` over positioned,
checkpointed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pacsaudit.contract import MultiProbe, Probe
from pacsaudit.engine.options import EngineOptions, ScanStats
from pacsaudit.engine.sweep import Sweep
from pacsaudit.model import Finding
from pacsaudit.targets.spec import Target


async def run_scan(
    targets: Iterable[Target],
    probe: Probe | MultiProbe,
    options: EngineOptions,
    on_finding: Callable[[Finding], None],
    stats: ScanStats | None = None,
) -> ScanStats:
    """Probe every target once; ``on_finding`` receives each finding as soon as it is made."""

    def on_done(_position: int, _target: Target, findings: list[Finding]) -> None:
        for finding in findings:
            on_finding(finding)

    sweep = Sweep(probe, options, on_done, stats=stats)
    return await sweep.run(enumerate(targets))
