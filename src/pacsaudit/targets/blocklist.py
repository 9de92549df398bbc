"""The blocklist: address blocks no probe may reach, and the one rule for naming them.

Why a shipped blocklist: a scan of "the Internet" must not send packets to multicast,
broadcast, reserved, documentation or benchmarking space, nor to other people's private networks
reached through a misrouted default route. ZMap ships ``conf/blocklist.conf`` with the IANA
special-purpose blocks for that reason and applies it to every scan; pacsaudit ships the same
(updated) list as ``pacsaudit/data/blocklist.conf``, and users add their own exclude files.

The rule for explicit targets
-----------------------------
ZMap's default list blocks the RFC 1918 ranges and loopback, and nothing a user types
overrides it: scanning a private network with ZMap means swapping the whole blocklist file.
Hospitals audit their own private networks and the built-in lab lives on loopback, so pacsaudit
softens exactly that part, and nothing else:

1. Blocks in the shipped list are *hard* (never scanned) unless tagged ``@local``: loopback
   (127.0.0.0/8, ::1) and private-use (10/8, 172.16/12, 192.168/16, fc00::/7).
2. A target entry that lies **wholly inside** one ``@local`` block names that part explicitly,
   and it is scanned: ``10.20.0.0/16``, ``192.168.1.7``, ``127.0.0.1``, a host name that
   resolves to ``10.1.2.3``.
3. An entry that merely **covers or straddles** a local block does not name it: ``0.0.0.0/0``
   scans none of 10/8 (name ``10.0.0.0/8`` as well to include it), and a range such as
   ``9.255.255.0-10.0.0.255`` loses its part inside 10/8.
4. Hard blocks and the user's exclude files win over everything, explicit or not.

Exclusions are applied while the target space is built, before the first packet: the walk in
:mod:`pacsaudit.targets.permutation` only ever sees what is left, so no excluded address can be
yielded. Every block that removed something is reported with its reason.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import msgspec

from pacsaudit.targets.collect import IntervalCollector
from pacsaudit.targets.spec import (
    AddressSpace,
    IntervalSet,
    SourcedEntry,
    parse_address_entry,
    resolve_name,
)
from pacsaudit.usage import UsageError

LOCAL_TAG = "@local"
"""Marks a block of the shipped list that an explicit target may open (see the module doc)."""


class BlockedRange(msgspec.Struct, frozen=True):
    """One block of a blocklist, with why it is there and where it was read."""

    family: int
    first: int
    last: int
    note: str
    """The reason, e.g. ``RFC1918: Private-Use`` or ``excluded by you``."""
    origin: str
    """``blocklist.conf:31`` or ``my-excludes.txt:4``."""
    local: bool = False
    """Loopback or private-use: scanned where a target names it explicitly."""

    def covers(self, first: int, last: int) -> bool:
        return self.first <= first and last <= self.last

    def overlap(self, first: int, last: int) -> int:
        """How many addresses of ``[first, last]`` this block holds."""
        return max(0, min(last, self.last) - max(first, self.first) + 1)

    def __str__(self) -> str:
        make = ipaddress.IPv4Address if self.family == 4 else ipaddress.IPv6Address
        networks = list(ipaddress.summarize_address_range(make(self.first), make(self.last)))
        if len(networks) == 1:
            return str(networks[0])
        return f"{make(self.first)}-{make(self.last)}"


class BlockNote(msgspec.Struct):
    """What one block removed from the targets, for the one-line notices before a scan."""

    block: BlockedRange
    addresses: int = 0
    entries: int = 0
    example: SourcedEntry | None = None

    def describe(self) -> str:
        where = f"{self.example.origin} {self.example.text!r}" if self.example else "targets"
        more = f" and {self.entries - 1} more" if self.entries > 1 else ""
        hint = (
            f"; name {self.block} (or a part of it) as a target to scan it"
            if self.block.local
            else ""
        )
        return (
            f"skipping {self.addresses:,} address(es) in {self.block} ({self.block.note}) "
            f"from {where}{more}{hint}"
        )


@dataclass
class Scope:
    """The addresses a scan may reach: what the user named, less what the blocklist removed.

    ``space`` feeds :class:`~pacsaudit.targets.permutation.TargetSpace`; ``in`` answers for one
    address (readers use it to filter ZMap/masscan results); ``notes`` say what was removed.
    """

    space: AddressSpace
    notes: list[BlockNote] = field(default_factory=list)
    excluded: int = 0
    """Addresses (and host-name addresses) the user named that will not be scanned."""

    def __post_init__(self) -> None:
        self._named = {a for addresses in self.space.names.values() for a in addresses}

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        try:  # the common case, in C (inet_pton is as strict as ipaddress for IPv4)
            number = int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
        except (OSError, ValueError):
            pass
        else:
            return number in self.space.v4 or address in self._named
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        numbers = self.space.v4 if ip.version == 4 else self.space.v6
        return int(ip) in numbers or str(ip) in self._named

    def describe(self) -> list[str]:
        return [note.describe() for note in self.notes]


class Blocklist:
    """Blocks per family, split into hard ones and ``@local`` ones, with their reasons."""

    __slots__ = ("_all", "_firsts", "_hard", "_local", "_merged", "_sorted", "ranges")

    def __init__(self, ranges: Iterable[BlockedRange] = ()) -> None:
        self.ranges: tuple[BlockedRange, ...] = tuple(ranges)
        self._hard = {f: IntervalSet() for f in (4, 6)}
        self._local = {f: IntervalSet() for f in (4, 6)}
        for family in (4, 6):
            mine = [r for r in self.ranges if r.family == family]
            self._hard[family] = IntervalSet((r.first, r.last) for r in mine if not r.local)
            self._local[family] = IntervalSet((r.first, r.last) for r in mine if r.local)
        self._all = {f: self._hard[f] | self._local[f] for f in (4, 6)}
        self._sorted = {
            f: sorted((r for r in self.ranges if r.family == f), key=lambda r: (r.first, -r.last))
            for f in (4, 6)
        }
        self._firsts = {f: [r.first for r in self._sorted[f]] for f in (4, 6)}
        self._merged = {f: self._all[f].intervals for f in (4, 6)}

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def parse(cls, lines: Iterable[str], origin: str, *, honour_local: bool = False) -> Blocklist:
        """Blocks from ZMap-style lines: entries (CIDR, range or address; several per line
        allowed), ``#`` comments. The comment is kept as the reason; ``@local`` in it counts only
        with ``honour_local`` — an exclude file a user adds is always hard."""
        ranges: list[BlockedRange] = []
        for number, line in enumerate(lines, 1):
            content, _, comment = line.partition("#")
            local = honour_local and LOCAL_TAG in comment.split()
            note = " ".join(w for w in comment.split() if w != LOCAL_TAG)
            where = f"{origin}:{number}"
            for token in content.replace(",", " ").split():
                try:
                    parsed = parse_address_entry(token)
                except ValueError as exc:
                    raise UsageError(f"{where}: bad blocklist entry {token!r}: {exc}") from None
                if isinstance(parsed, str):
                    raise UsageError(
                        f"{where}: bad blocklist entry {token!r}: host names are not allowed in "
                        "a blocklist (they would be resolved at the wrong time)"
                    )
                family, first, last = parsed
                reason = note or f"excluded by {origin}"
                ranges.append(BlockedRange(family, first, last, reason, where, local))
        return cls(ranges)

    @classmethod
    def from_file(cls, path: str | Path, *, honour_local: bool = False) -> Blocklist:
        """An exclude file; unreadable files are usage errors naming the file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"cannot read exclude file {path}: {reason}") from None
        return cls.parse(text.splitlines(), str(path), honour_local=honour_local)

    def __or__(self, other: Blocklist) -> Blocklist:
        return Blocklist(self.ranges + other.ranges)

    # -- questions --------------------------------------------------------------------------

    def hard(self, family: int) -> IntervalSet:
        return self._hard[family]

    def local(self, family: int) -> IntervalSet:
        return self._local[family]

    def blocked(self, family: int) -> IntervalSet:
        """Everything blocked in a wide scan: hard blocks and local ones."""
        return self._all[family]

    def find(self, address: str) -> BlockedRange | None:
        """The most specific block holding ``address`` (the reason to show), or None."""
        ip = ipaddress.ip_address(address)
        n = int(ip)
        best: BlockedRange | None = None
        for r in self._sorted[ip.version]:
            if r.first > n:
                break
            if n <= r.last and (best is None or r.last - r.first < best.last - best.first):
                best = r
        return best

    def _overlapping(self, family: int, first: int, last: int) -> Iterator[BlockedRange]:
        merged = self._merged[family]
        i = bisect_right(merged, (last, 1 << 130)) - 1
        if i < 0 or merged[i][1] < first:
            # The last merged block starting at or before ``last`` ends before ``first``, so
            # none does: the common case, answered in O(log blocks).
            return
        ranges = self._sorted[family]
        stop = bisect_right(self._firsts[family], last)
        for r in ranges[:stop]:
            if r.last >= first:
                yield r

    # -- applying the rule ------------------------------------------------------------------

    def scope(self, entries: Iterable[SourcedEntry], *, resolve: bool = True) -> Scope:
        """Parse target entries and apply the blocklist under the explicit-target rule.

        Every entry is parsed before any name is resolved, so one typo fails the whole list
        (as :func:`~pacsaudit.targets.spec.build_space` does). Host names are resolved once,
        here; their addresses count as named explicitly.
        """
        names: dict[str, SourcedEntry] = {}
        notes: dict[BlockedRange, BlockNote] = {}
        # Streamed: a list of millions of lines is never held as entries, only as packed
        # intervals (what the user may scan, and what the blocks removed from it).
        allowed = {4: IntervalCollector(4), 6: IntervalCollector(6)}
        removed = {4: IntervalCollector(4), 6: IntervalCollector(6)}
        hard = self._hard
        for entry in entries:
            try:
                parsed = parse_address_entry(entry.text)
            except ValueError as exc:
                raise UsageError(f"{entry.origin}: bad target {entry.text!r}: {exc}") from None
            if isinstance(parsed, str):
                names.setdefault(parsed, entry)
                continue
            family, first, last = parsed
            if first == last and first not in hard[family]:
                # One address (a ZMap line) outside every hard block: each block holding it
                # is local and covers it, so it is named explicitly and kept, with no note.
                allowed[family].add(first, last)
                continue
            scanned, cut = self._allowed_part(family, first, last, entry, notes)
            for lo, hi in scanned:
                allowed[family].add(lo, hi)
            for lo, hi in cut:
                removed[family].add(lo, hi)
        if names and not resolve:
            name, entry = next(iter(names.items()))
            raise UsageError(f"{entry.origin}: bad target {name!r}: host names are not allowed")

        kept_names: dict[str, list[str]] = {}
        dropped_names = 0
        for name, entry in names.items():
            kept: list[str] = []
            for address in resolve_name(name, entry.origin):
                ip = ipaddress.ip_address(address)
                if int(ip) in self._hard[ip.version]:
                    block = self.find(address)
                    if block is not None:
                        _note(notes, block, 1, entry)
                    dropped_names += 1
                else:
                    kept.append(address)
            if kept:
                kept_names[name] = kept

        space = AddressSpace(allowed[4].result(), allowed[6].result(), kept_names)
        # What was named and is not scanned: removed by a block and allowed by no other entry.
        excluded = dropped_names + sum(
            (removed[f].result() - (space.v4 if f == 4 else space.v6)).size() for f in (4, 6)
        )
        ordered = sorted(notes.values(), key=lambda n: (n.block.family, n.block.first))
        return Scope(space, ordered, excluded)

    def _allowed_part(
        self,
        family: int,
        first: int,
        last: int,
        entry: SourcedEntry,
        notes: dict[BlockedRange, BlockNote],
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The parts of one entry that may be scanned and that blocks removed, recording what
        each block removed."""
        hits = list(self._overlapping(family, first, last))
        if not hits:
            return [(first, last)], []
        removed: list[tuple[int, int]] = []
        for block in hits:
            if block.local and block.covers(first, last):
                continue  # named explicitly, wholly inside a loopback or private block
            removed.append((max(first, block.first), min(last, block.last)))
            _note(notes, block, block.overlap(first, last), entry)
        if not removed:  # e.g. an address in a private network, named
            return [(first, last)], []
        kept = IntervalSet([(first, last)]) - IntervalSet(removed)
        return kept.intervals, removed

    def everywhere(self) -> Scope:
        """The scope of a scan that named no targets (e.g. ZMap results checked against the
        blocklist alone): every address except hard *and* local blocks, since nothing was
        named explicitly."""
        space = AddressSpace(
            IntervalSet([(0, (1 << 32) - 1)]) - self._all[4],
            IntervalSet([(0, (1 << 128) - 1)]) - self._all[6],
        )
        return Scope(space)


def _note(
    notes: dict[BlockedRange, BlockNote], block: BlockedRange, count: int, entry: SourcedEntry
) -> None:
    note = notes.setdefault(block, BlockNote(block))
    note.addresses += count
    note.entries += 1
    if note.example is None:
        note.example = entry


DEFAULT_BLOCKLIST = "blocklist.conf"


@functools.cache
def default_blocklist() -> Blocklist:
    """The shipped IANA special-purpose blocklist (``pacsaudit/data/blocklist.conf``)."""
    text = resources.files("pacsaudit.data").joinpath(DEFAULT_BLOCKLIST).read_text("utf-8")
    return Blocklist.parse(text.splitlines(), DEFAULT_BLOCKLIST, honour_local=True)


def load_blocklist(
    exclude_files: Iterable[str | Path] = (), *, use_default: bool = True
) -> Blocklist:
    """The default blocklist plus the user's exclude files (``-`` is not accepted here: stdin
    is for targets). ``use_default=False`` drops the shipped list, as ZMap's ``-b`` replaces
    its own; a caller offering that must say so loudly."""
    blocklist = default_blocklist() if use_default else Blocklist()
    for path in exclude_files:
        blocklist = blocklist | Blocklist.from_file(path)
    return blocklist
