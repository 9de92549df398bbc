"""A run's shards as jobs: how many tasks it is cut into, and where each one resumes.

The engine does not know what a scan plan is: anything that can cut itself into shards and
hand out a shard's positioned targets (:class:`ShardedTargets` — the plan does) is run the same
way here, in one process, or on a cluster (:mod:`pacsaudit.engine.cluster`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import msgspec

from pacsaudit.engine.sources import PositionedSource
from pacsaudit.engine.state import ScanState, StateError
from pacsaudit.targets.permutation import Shard


class ShardedTargets(Protocol):
    """The targets of one run, cut into shards."""

    def task_shards(self, tasks: int) -> list[Shard]:
        """This run's shard cut into ``tasks`` disjoint shards covering it exactly."""
        ...

    def source(self, shard: Shard, start: int = 0, redo: Iterable[int] = ()) -> PositionedSource:
        """The positioned targets of one shard, resumed at ``start`` after ``redo``."""
        ...


class ShardJob(msgspec.Struct, frozen=True):
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


def shard_jobs(targets: ShardedTargets, state: ScanState | None, tasks: int) -> list[ShardJob]:
    """The shards left to scan. A new state gets one row per shard, all at once; a resumed
    one gives each incomplete shard's position and pending positions, checked against the
    shard's own fingerprint (another split, or another walk, is refused)."""
    shards = targets.task_shards(tasks)
    if state is None:
        return [ShardJob(shard) for shard in shards]
    saved = state.shards()
    if not saved:
        sources = [(str(s), targets.source(s)) for s in shards]
        state.add_shards((name, src.fingerprint, src.length) for name, src in sources)
        return [ShardJob(shard) for shard in shards]
    if set(saved) != {str(s) for s in shards}:
        raise StateError(f"{state.path} was saved with another split into shards")
    jobs: list[ShardJob] = []
    for shard in shards:
        source = targets.source(shard)
        progress = saved[str(shard)]
        if progress.fingerprint != source.fingerprint or progress.length != source.length:
            raise StateError(f"{state.path}: shard {shard} was saved for another walk")
        if not progress.complete:
            jobs.append(ShardJob(shard, progress.position, progress.pending, progress.done))
    return jobs
