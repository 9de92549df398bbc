"""Numbers and address intervals collected in any order, kept packed, read back sorted.

The building blocks of :mod:`pacsaudit.targets.compact`: a target file of millions of lines
is appended to packed chunks (8 bytes a line), each chunk sorted and coalesced on its own, and
the chunks merged lazily at the end, so no list of millions of Python objects is ever built.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator, MutableSequence

from pacsaudit.targets.packed import WORD32, empty_like
from pacsaudit.targets.spec import IntervalSet

CHUNK = 1 << 17
"""Numbers sorted at once: the transient list ``sorted()`` builds is about 5 MB."""
_MASK32 = WORD32 - 1


class SortedRuns:
    """Integers below 2^64 added in any order, read back sorted with duplicates counted.

    ``coalesce`` merges numbers that :meth:`_merge` says may join (for packed intervals);
    without it only equal numbers collapse."""

    def __init__(self) -> None:
        self._chunk: array[int] = array("Q")
        self._runs: list[array[int]] = []
        self.added = 0

    def add(self, number: int) -> None:
        self._chunk.append(number)
        if len(self._chunk) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._chunk:
            self.added += len(self._chunk)
            self._runs.append(array("Q", self._unique(sorted(self._chunk))))
            self._chunk = array("Q")

    @staticmethod
    def _unique(ordered: Iterable[int]) -> Iterator[int]:
        previous = -1
        for number in ordered:
            if number != previous:
                yield number
                previous = number

    def sorted_unique(self) -> Iterator[int]:
        """Every number once, ascending; the runs are freed when the iterator is done."""
        self._flush()
        runs, self._runs = self._runs, []
        if len(runs) == 1:
            return iter(runs[0])
        return self._unique(heapq.merge(*runs))


class IntervalCollector:
    """Address intervals of one family, in any order, into one normalised IntervalSet.

    IPv4 intervals are packed ``first << 32 | last`` into :class:`SortedRuns` (8 bytes each);
    IPv6 ones, which need 256 bits, are kept as pairs (IPv6 lists are explicit and short)."""

    def __init__(self, family: int) -> None:
        self.family = family
        self._v4 = SortedRuns()
        self._wide: list[tuple[int, int]] = []

    def add(self, first: int, last: int) -> None:
        if self.family == 4:
            self._v4.add(first << 32 | last)
        else:
            self._wide.append((first, last))

    def result(self) -> IntervalSet:
        if self.family != 4:
            return IntervalSet(self._wide)
        firsts: MutableSequence[int] = empty_like(WORD32)
        lasts: MutableSequence[int] = empty_like(WORD32)
        lo = hi = -2
        for packed_interval in self._v4.sorted_unique():
            first, last = packed_interval >> 32, packed_interval & _MASK32
            if first <= hi + 1:
                hi = max(hi, last)
                continue
            if hi >= 0:
                firsts.append(lo)
                lasts.append(hi)
            lo, hi = first, last
        if hi >= 0:
            firsts.append(lo)
            lasts.append(hi)
        return IntervalSet.from_sorted(firsts, lasts)
