"""Millions of targets from files, in memory that grows by bytes per line, not kilobytes.

A ZMap or masscan result for a common port is millions of lines, and so is a target list
written by another tool. Held as Python objects (a ``Target`` with its address text, a
``SourcedEntry`` per line, tuples in a list) each line costs about 0.6 KB: two million lines
took 1.2 GB. Here they stream into packed integer arrays and come out as sorted intervals:

plain target lists
    stream through :class:`~pacsaudit.targets.collect.IntervalCollector` (8 bytes per IPv4
    entry, then 8 per interval) into the :class:`~pacsaudit.targets.spec.IntervalSet` the
    cyclic walk already takes;
:class:`TargetList`
    the (address, port) pairs of result files, deduplicated and sorted, as intervals of the
    index space ``address x ports held + port number``: a block of consecutive addresses open
    on the same ports is one interval. It has a length, a stable order, access by position,
    the ports it holds and a fingerprint, and it is walked like an address space
    (:class:`~pacsaudit.targets.permutation.WalkableSpace`): the seeded cyclic walk spreads
    the probes over networks whatever order the file had.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import sys
from array import array
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence

from pacsaudit.targets.blocklist import Scope
from pacsaudit.targets.collect import CHUNK, SortedRuns
from pacsaudit.targets.packed import WORD32, empty_like
from pacsaudit.targets.readers import OpenPort, ReadStats
from pacsaudit.targets.spec import Target

LIST_ALGORITHM = "pacsaudit-list/2"
"""Names the result-list layout in its fingerprint (``/1`` hashed the file's order)."""


class TargetList:
    """Deduplicated (address, port) pairs in a stable order: IPv4 ascending by address then
    port, then IPv6 the same way. Build one with :func:`collect_targets`.

    IPv4 pair ``k`` is found by bisection in the prefix sums of the intervals of the index
    space ``address * len(ports) + port_index``."""

    def __init__(
        self,
        ports: Sequence[int],
        firsts: Sequence[int],
        starts: Sequence[int],
        ipv4_size: int,
        v6: Sequence[tuple[int, int]],
        addresses: int,
    ) -> None:
        self.ports: tuple[int, ...] = tuple(ports)
        """The ports this list holds, ascending."""
        self._firsts = firsts
        self._starts = starts
        self._ipv4_size = ipv4_size
        self._v6 = v6
        self.addresses = addresses
        """Distinct addresses."""
        self.fingerprint = self._fingerprint()

    @property
    def ipv4_size(self) -> int:
        return self._ipv4_size

    @property
    def tail_size(self) -> int:
        return len(self._v6)

    def __len__(self) -> int:
        return self._ipv4_size + len(self._v6)

    def ipv4_target(self, k: int) -> Target:
        i = bisect_right(self._starts, k) - 1
        address, port_index = divmod(self._firsts[i] + (k - self._starts[i]), len(self.ports))
        return Target(socket.inet_ntoa(address.to_bytes(4, "big")), self.ports[port_index])

    def tail_target(self, t: int) -> Target:
        address, port = self._v6[t]
        return Target(str(ipaddress.IPv6Address(address)), port)

    def __getitem__(self, k: int) -> Target:
        if not 0 <= k < len(self):
            raise IndexError(k)
        if k < self._ipv4_size:
            return self.ipv4_target(k)
        return self.tail_target(k - self._ipv4_size)

    def __iter__(self) -> Iterator[Target]:
        for k in range(len(self)):
            yield self[k]

    def _fingerprint(self) -> str:
        """SHA-256 over what decides the pair each index means: ports, intervals, IPv6."""
        h = hashlib.sha256(f"{LIST_ALGORITHM}\n".encode())
        h.update(f"ports:{','.join(map(str, self.ports))}\n".encode())
        h.update(f"v4:{len(self._firsts)}:{self._ipv4_size}\n".encode())
        for numbers in (self._firsts, self._starts):
            for i in range(0, len(numbers), CHUNK):  # bounded copies, one byte order
                part = array("Q", numbers[i : i + CHUNK])
                if sys.byteorder == "big":
                    part.byteswap()
                h.update(part.tobytes())
        for address, port in self._v6:
            h.update(f"{address:x} {port}\n".encode())
        return h.hexdigest()


def _v4_number(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        return None


def collect_targets(
    pairs: Iterable[tuple[str, int | None]],
    ports: Sequence[int],
    *,
    port_filter: Collection[int] | None = None,
) -> tuple[TargetList, int]:
    """The deduplicated targets of ``(address, port or None)`` pairs, and how many duplicates
    were dropped. A pair without a port takes every one of ``ports``; a pair whose port is not
    in ``port_filter`` (when given) is dropped. Memory: 8 bytes per pair while reading, less
    once sorted (consecutive addresses on the same ports coalesce)."""
    keys = SortedRuns()
    v6: set[tuple[int, int]] = set()
    v6_added = 0
    seen_ports: set[int] = set()
    for ip, port in pairs:
        if port is None:
            wanted: Iterable[int] = ports
        elif port_filter is not None and port not in port_filter:
            continue
        else:
            wanted = (port,)
        number = _v4_number(ip)
        for p in wanted:
            seen_ports.add(p)
            if number is not None:
                keys.add(number << 16 | p)
            else:
                v6_added += 1
                v6.add((int(ipaddress.ip_address(ip)), p))
    held = sorted(seen_ports)
    index = {p: i for i, p in enumerate(held)}
    width = max(1, len(held))
    firsts = empty_like(WORD32 * width)
    starts = empty_like(WORD32 * width)
    size = addresses = 0
    run_first = run_last = previous_address = -1
    for key in keys.sorted_unique():
        address = key >> 16
        flat = address * width + index[key & 0xFFFF]
        if address != previous_address:
            addresses += 1
            previous_address = address
        if flat == run_last + 1:
            run_last = flat
            continue
        if run_last >= 0:
            firsts.append(run_first)
            starts.append(size)
            size += run_last - run_first + 1
        run_first = run_last = flat
    if run_last >= 0:
        firsts.append(run_first)
        starts.append(size)
        size += run_last - run_first + 1
    tail = sorted(v6)
    addresses += len({address for address, _ in tail})
    duplicates = keys.added - size + v6_added - len(tail)
    return TargetList(held, firsts, starts, size, tail, addresses), duplicates


def compact_targets(
    results: Iterable[OpenPort],
    ports: Sequence[int],
    scope: Scope,
    *,
    port_filter: Collection[int] | None = None,
    stats: ReadStats | None = None,
) -> TargetList:
    """What :func:`~pacsaudit.targets.readers.targets_from_results` yields, as a
    :class:`TargetList`: sorted, packed, a few bytes per result (a set of tuples and a
    ``Target`` per result cost about 0.6 KB).
    Out-of-scope addresses and duplicates are counted in ``stats``."""

    def in_scope() -> Iterator[tuple[str, int | None]]:
        for result in results:
            if result.ip in scope:
                yield result.ip, result.port
            elif stats is not None:
                stats.out_of_scope += 1

    targets, duplicates = collect_targets(in_scope(), ports, port_filter=port_filter)
    if stats is not None:
        stats.duplicates += duplicates
    return targets
