"""Where a scan's targets come from, each with a *position* the state can save.

The engine takes ``(position, target)`` pairs. Positions are what make a scan resumable: the
state records the position the source has reached and the positions still in flight, and a
resumed source first yields those in-flight positions again (the *redo* list), then continues
where it stopped. The source is :class:`WalkSource`: one shard of the seeded cyclic-group
walk over an address space (:mod:`pacsaudit.targets.permutation`), whose positions are the
walk's steps. The result files of ZMap and masscan are walked the same way, over a packed
:class:`~pacsaudit.targets.compact.TargetList`.

It carries a ``fingerprint`` naming exactly which sequence it produces (targets, ports, seed,
shard), so a saved position is never applied to another scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Protocol

from pacsaudit.targets.permutation import Shard, TargetWalk, WalkableSpace
from pacsaudit.targets.spec import Target

EXACT_COUNT_STEPS = 1 << 24
"""Shards up to this many walk steps are counted exactly for ``--dry-run`` (about a second);
larger ones are given as a range."""


class PositionedSource(Protocol):
    fingerprint: str
    length: int
    """Positions in this shard (walk steps, skipped residues included, or list entries)."""

    @property
    def position(self) -> int:
        """Every position below this one has been handed out (the redo list aside)."""
        ...

    def estimate(self) -> int:
        """About how many targets the shard holds (for progress bars)."""
        ...

    def count_range(self) -> tuple[int, int]:
        """The shard's target count, exact ``(n, n)`` or bounds ``(low, high)``."""
        ...

    def __iter__(self) -> Iterator[tuple[int, Target]]: ...

    def __next__(self) -> tuple[int, Target]: ...


class WalkSource:
    """One shard of the cyclic walk, resumed at ``start`` after yielding ``redo`` again: over
    an address space, or over the packed targets of result files
    (:class:`~pacsaudit.targets.compact.TargetList`)."""

    def __init__(
        self,
        space: WalkableSpace,
        *,
        seed: int,
        shard: Shard,
        start: int = 0,
        redo: Iterable[int] = (),
    ) -> None:
        self.space = space
        self.walk = TargetWalk(space, seed=seed, shard=shard, position=start)
        self.fingerprint = self.walk.fingerprint
        self.length = self.walk.length
        group = self.walk.group
        self._cycle_start = shard.segment(group.order)[0] if group is not None else 0
        self._tail_start = shard.segment(space.tail_size)[0]
        self._redo = iter(sorted(set(redo)))
        self._steps = self.walk.positioned()

    @property
    def position(self) -> int:
        return self.walk.position

    def target_at(self, position: int) -> Target | None:
        """The target a position stands for, or None for a skipped residue."""
        walk = self.walk
        if not 0 <= position < walk.length:
            raise ValueError(f"position {position} outside 0..{walk.length}")
        if position < walk.cycle_length:
            assert walk.group is not None
            index = walk.group.element_at(self._cycle_start + position) - 1
            return self.space.ipv4_target(index) if index < self.space.ipv4_size else None
        return self.space.tail_target(self._tail_start + position - walk.cycle_length)

    def estimate(self) -> int:
        walk = self.walk
        if walk.group is None:
            return walk.length
        share = walk.cycle_length * self.space.ipv4_size / walk.group.order
        return round(share) + walk.length - walk.cycle_length

    def count_range(self) -> tuple[int, int]:
        """The shard's exact target count as ``(n, n)`` when it is small enough to walk,
        else the bounds ``(low, high)``: at most ``order - size`` residues of the whole cycle
        are skipped, and any shard may hold all of them or none."""
        walk = self.walk
        tail = walk.length - walk.cycle_length
        group = walk.group
        if group is None:
            return tail, tail
        if walk.cycle_length <= EXACT_COUNT_STEPS:
            p, g, size = group.prime, group.generator, group.size
            x = group.element_at(self._cycle_start)
            n = 0
            for _ in range(walk.cycle_length):
                if x <= size:
                    n += 1
                x = x * g % p
            return n + tail, n + tail
        skipped = group.order - group.size
        return max(0, walk.cycle_length - skipped) + tail, walk.cycle_length + tail

    def __iter__(self) -> Iterator[tuple[int, Target]]:
        return self

    def __next__(self) -> tuple[int, Target]:
        for position in self._redo:
            target = self.target_at(position)
            if target is not None:
                return position, target
        return next(self._steps)


def scan_fingerprint(kind: str, base: str, seed: int | None) -> str:
    """Identity of the whole scan, whatever its split into shards: a state file made for
    another target set or seed is refused with this."""
    return hashlib.sha256(f"pacsaudit-scan/1\n{kind}\n{base}\nseed={seed}\n".encode()).hexdigest()
