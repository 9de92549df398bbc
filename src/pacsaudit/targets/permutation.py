# Over 600 lines: the walk's number theory, index space, shards and cursor are one algorithm.
"""Seeded pseudo-random order over (address, port) pairs, split into shards, resumable.

Why a permutation at all: probing addresses in numeric order sends a burst of connections into
one network after another (a /24 sees 256 × ports probes in a row), which looks like an attack
and trips rate limits and IDSs. Visiting the space in a pseudo-random order spreads the load so
that at any moment each network sees a trickle — the reason ZMap walks a multiplicative cyclic
group (``src/cyclic.c``), and the scheme reproduced here.

The walk
--------
Let ``N`` be the number of IPv4 (address, port) pairs and ``p`` the smallest prime above ``N``.
The non-zero residues modulo ``p`` form a cyclic group of order ``p - 1`` under
multiplication; a generator ``g`` visits every one of them exactly once before returning to its
start. Element ``x`` stands for pair index ``x - 1``; indices ``>= N`` are skipped. The seed
picks the generator and the starting exponent, so every seed gives a different order and the
same seed always the same one. Only ``x`` changes from step to step: no per-target state, no
list of visited addresses, memory O(number of intervals) even for 2^32 addresses × many ports.

ZMap uses a fixed table of primes (``257``, ``65537``, ``2^24 + 43``, …) and so wastes up to
255 of 256 steps when ``N`` falls just above one of them; at C speed that is affordable, in
Python it is not. Here ``p`` is the next prime after ``N`` (prime gaps below 2^50 are under a
thousand), found with a deterministic Miller–Rabin test; ``p - 1`` is factored with Pollard's
rho so generators can be checked. Both take milliseconds, so a walk over a /0 starts at once.

Index to pair: index ``k`` is address number ``k // len(ports)`` of the sorted, disjoint IPv4
intervals, located by bisection in their prefix sums, with port ``ports[k % len(ports)]``.

IPv6 addresses and host names come after the IPv4 walk in a plain deterministic order (the
IPv6 space a user gives is explicit and small; names are few), each still exactly once.

Shards and the cursor
---------------------
Shard ``I/N`` owns a contiguous segment of the cycle, ``[Q·I/N, Q·(I+1)/N)`` in exponents
(``Q = p - 1``), as ZMap has done since 2017 (``src/shard.c``); its part of the IPv6/name tail is
the same slice of the tail. A shard's *position* counts the steps it has taken in its segment
(skipped residues included) followed by its tail entries; the state to save is that one integer
plus the identity of the walk, see :class:`Cursor`. ``docs/scale.md`` explains the choice.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import json
import math
import socket
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, Protocol

import msgspec

from pacsaudit.targets.packed import packed
from pacsaudit.targets.spec import AddressSpace, IntervalSet, Target
from pacsaudit.usage import UsageError

ALGORITHM = "pacsaudit-cyclic/1"
"""Names this walk in fingerprints: a change to how the order is derived must change it, so a
state saved by an older walk is refused rather than resumed in the wrong place."""

_MAX_GENERATOR_DRAWS = 10_000
"""Random draws before the generator search falls back to a scan. At least 1 in 20 residues of
a prime below 2^50 is a generator, so 10,000 draws fail with probability below 1e-200."""


# ---------------------------------------------------------------------------------------------
# Number theory: small, deterministic, exact. Integers stay below 2^50 × 2^50.
# ---------------------------------------------------------------------------------------------

_SMALL_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def is_prime(n: int) -> bool:
    """Deterministic Miller–Rabin: the first twelve primes as bases decide every ``n`` below
    3.3 × 10^24, far above the largest space (2^32 addresses × 65,535 ports < 2^48)."""
    if n < 2:
        return False
    for q in _SMALL_PRIMES:
        if n % q == 0:
            return n == q
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in _SMALL_PRIMES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n: int) -> int:
    """The smallest prime strictly greater than ``n``; the loop ends because primes are dense
    (gaps below 2^64 are under 1,600)."""
    candidate = max(n + 1, 2)
    while not is_prime(candidate):
        candidate += 1
    return candidate


def _pollard_brent(n: int) -> int:
    """A non-trivial factor of the odd composite ``n``. Deterministic: the polynomial constant
    runs through 1, 2, 3…, so the same ``n`` always costs the same (well under a millisecond for
    the 48-bit numbers met here)."""
    for c in range(1, n):
        y, r, q, g = 2, 1, 1, 1
        x = ys = 2
        while g == 1:
            x = y
            for _ in range(r):
                y = (y * y + c) % n
            k = 0
            while k < r and g == 1:
                ys = y
                for _ in range(min(128, r - k)):
                    y = (y * y + c) % n
                    q = q * abs(x - y) % n
                g = math.gcd(q, n)
                k += 128
            r *= 2
        if g == n:
            g = 1
            while g == 1:
                ys = (ys * ys + c) % n
                g = math.gcd(abs(x - ys), n)
        if g != n:
            return g
    raise ArithmeticError(f"no factor found for {n}")  # pragma: no cover - n is composite


def prime_factors(n: int) -> list[int]:
    """The distinct prime factors of ``n >= 1``, ascending."""
    found: set[int] = set()
    for q in _SMALL_PRIMES:
        while n % q == 0:
            found.add(q)
            n //= q
    pending = [n] if n > 1 else []
    while pending:  # each split at least halves a number, so this ends
        m = pending.pop()
        if is_prime(m):
            found.add(m)
            continue
        f = _pollard_brent(m)
        pending.extend((f, m // f))
    return sorted(found)


def _draw(seed: int, label: str, bound: int) -> int:
    """A number in ``[0, bound)`` derived from the seed alone. SHA-256 rather than ``random``:
    the order must be the same on every Python version, or a saved cursor would resume a
    different walk. The modulo bias of a 256-bit value reduced below 2^50 is negligible."""
    digest = hashlib.sha256(f"{ALGORITHM}/{label}/{seed}".encode()).digest()
    return int.from_bytes(digest, "big") % bound


class CyclicGroup(msgspec.Struct, frozen=True):
    """The multiplicative group modulo ``prime``, a generator of it and a starting exponent.

    The group has ``prime - 1`` elements; ``generator ** e`` for ``e`` from ``offset`` on visits
    each of them once. Elements ``1..size`` stand for indices ``0..size-1``; the rest are skipped.
    """

    size: int
    prime: int
    generator: int
    offset: int

    @property
    def order(self) -> int:
        return self.prime - 1

    @classmethod
    def for_size(cls, size: int, seed: int) -> CyclicGroup:
        """The group for ``size`` indices, its generator and offset drawn from ``seed``."""
        if size < 1:
            raise ValueError("a cyclic walk needs at least one element")
        prime = next_prime(max(size, 2))
        order = prime - 1
        factors = prime_factors(order)

        def is_generator(candidate: int) -> bool:
            return all(pow(candidate, order // q, prime) != 1 for q in factors)

        generator = 0
        if prime == 3:
            generator = 2
        else:
            for attempt in range(_MAX_GENERATOR_DRAWS):
                candidate = 2 + _draw(seed, f"generator/{prime}/{attempt}", prime - 3)
                if is_generator(candidate):
                    generator = candidate
                    break
            else:  # pragma: no cover - probability below 1e-200
                generator = next(c for c in range(2, prime) if is_generator(c))
        return cls(size, prime, generator, _draw(seed, f"offset/{prime}", order))

    def element_at(self, exponent: int) -> int:
        return pow(self.generator, (self.offset + exponent) % self.order, self.prime)


# ---------------------------------------------------------------------------------------------
# Index → address over disjoint intervals, without expanding them.
# ---------------------------------------------------------------------------------------------


class IntervalIndex:
    """The ``k``-th integer of sorted, disjoint, inclusive intervals, found by bisection in the
    prefix sums: O(intervals) memory and O(log intervals) time, however many integers.

    Built from an :class:`~pacsaudit.targets.spec.IntervalSet`, it shares the set's packed
    array of interval starts and packs the prefix sums the same way (8 bytes per IPv4
    interval in all, instead of about 80 in lists)."""

    __slots__ = ("_firsts", "_starts", "size")

    def __init__(self, intervals: Iterable[tuple[int, int]] | IntervalSet) -> None:
        if not isinstance(intervals, IntervalSet):
            pairs = list(intervals)
            previous_last = -1
            for first, last in pairs:
                if first <= previous_last or last < first:
                    raise ValueError("intervals must be sorted, disjoint and non-empty")
                previous_last = last
            intervals = IntervalSet(pairs)
        self._firsts: Sequence[int] = intervals.firsts
        self.size: int = intervals.size()
        sizes = (last - first + 1 for first, last in intervals.pairs())
        starts = packed(itertools.accumulate(sizes, initial=0), self.size + 1)
        starts.pop()
        self._starts: Sequence[int] = starts

    def __len__(self) -> int:  # may exceed sys.maxsize for IPv6; use .size then
        return self.size

    def __getitem__(self, k: int) -> int:
        if not 0 <= k < self.size:
            raise IndexError(k)
        i = bisect_right(self._starts, k) - 1
        return self._firsts[i] + (k - self._starts[i])


class WalkableSpace(Protocol):
    """What :class:`TargetWalk` needs of the targets it permutes: IPv4 pairs by index (the
    part the cyclic walk permutes), a tail taken in order, and a fingerprint naming both.
    :class:`TargetSpace` (addresses x ports) and
    :class:`~pacsaudit.targets.compact.TargetList` (result files) are two."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def ipv4_size(self) -> int: ...

    @property
    def tail_size(self) -> int: ...

    def ipv4_target(self, k: int) -> Target: ...

    def tail_target(self, t: int) -> Target: ...


# ---------------------------------------------------------------------------------------------
# The target space.
# ---------------------------------------------------------------------------------------------


def _ipv4_text(n: int) -> str:
    return socket.inet_ntoa(n.to_bytes(4, "big"))


def _ipv6_text(n: int) -> str:
    # ipaddress, not inet_ntop: the text must equal what the rest of pacsaudit writes for the
    # same address (they differ on IPv4-mapped forms), and the IPv6 tail is not hot.
    return str(ipaddress.IPv6Address(n))


class TargetSpace:
    """Every (address, port) pair of an :class:`AddressSpace`, addressable by index.

    Indices ``0..ipv4_size-1`` are the IPv4 pairs (the part the cyclic walk permutes); indices
    from ``ipv4_size`` on are the *tail*: IPv6 pairs, then host-name pairs in the order the
    names were given and resolved. Nothing is expanded.
    """

    __slots__ = ("_names", "_tail_v6", "_v4", "_v6", "fingerprint", "ports")

    def __init__(self, space: AddressSpace, ports: Sequence[int]) -> None:
        if not ports:
            raise ValueError("no ports")
        if len(set(ports)) != len(ports):
            raise ValueError("ports must not repeat: each pair is visited once")
        if not all(1 <= port <= 65535 for port in ports):
            raise ValueError("ports run from 1 to 65535")
        self.ports: tuple[int, ...] = tuple(ports)
        self._v4 = IntervalIndex(space.v4)
        self._v6 = IntervalIndex(space.v6)
        self._names: list[tuple[str, str]] = [
            (address, name) for name, addresses in space.names.items() for address in addresses
        ]
        self._tail_v6 = self._v6.size * len(self.ports)
        self.fingerprint = _space_fingerprint(space, self.ports)

    @property
    def ipv4_size(self) -> int:
        return self._v4.size * len(self.ports)

    @property
    def tail_size(self) -> int:
        return self._tail_v6 + len(self._names) * len(self.ports)

    @property
    def size(self) -> int:
        return self.ipv4_size + self.tail_size

    def ipv4_target(self, k: int) -> Target:
        address, port_index = divmod(k, len(self.ports))
        return Target(_ipv4_text(self._v4[address]), self.ports[port_index])

    def tail_target(self, t: int) -> Target:
        if t < self._tail_v6:
            address, port_index = divmod(t, len(self.ports))
            return Target(_ipv6_text(self._v6[address]), self.ports[port_index])
        entry, port_index = divmod(t - self._tail_v6, len(self.ports))
        ip, name = self._names[entry]
        return Target(ip, self.ports[port_index], name)

    def __getitem__(self, k: int) -> Target:
        """Index ``k`` in walk-independent order (IPv4 in numeric order, then the tail)."""
        if not 0 <= k < self.size:
            raise IndexError(k)
        if k < self.ipv4_size:
            return self.ipv4_target(k)
        return self.tail_target(k - self.ipv4_size)


def _space_fingerprint(space: AddressSpace, ports: tuple[int, ...]) -> str:
    """SHA-256 of everything that decides which pair an index means; streamed, so a list of a
    million intervals costs no more memory than the list itself."""
    h = hashlib.sha256(f"{ALGORITHM}\n".encode())
    for label, intervals in (("v4", space.v4), ("v6", space.v6)):
        h.update(f"{label}:{intervals.count()}\n".encode())
        for first, last in intervals.pairs():
            h.update(f"{first:x}-{last:x}\n".encode())
    h.update(f"names:{len(space.names)}\n".encode())
    for name, addresses in space.names.items():
        h.update(f"{name}={','.join(addresses)}\n".encode())
    h.update(f"ports:{','.join(map(str, ports))}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Shards, cursors and the walk.
# ---------------------------------------------------------------------------------------------


class Shard(msgspec.Struct, frozen=True):
    """Shard ``index`` of ``count``, counted from 0 as ZMap counts (``--shard 0/4`` … ``3/4``)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= I < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` as typed after ``--shard``; a usage error names what is wrong."""
        index_text, sep, count_text = text.strip().partition("/")
        # ASCII digits only: str.isdigit() alone also takes "²" and other scripts' digits.
        if not (sep and _ascii_digits(index_text) and _ascii_digits(count_text)):
            raise UsageError(f"bad shard {text!r}: write I/N, e.g. 0/4 (shards count from 0)")
        index, count = int(index_text), int(count_text)
        if count < 1 or index >= count:
            raise UsageError(f"bad shard {text!r}: I runs from 0 to N-1")
        return cls(index, count)

    def segment(self, total: int) -> tuple[int, int]:
        """This shard's ``[start, stop)`` of ``total`` positions; shards tile it exactly, and
        their sizes differ by at most one."""
        return total * self.index // self.count, total * (self.index + 1) // self.count

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


class CursorMismatch(UsageError):
    """A saved position belongs to another walk (targets, ports, seed or shard differ)."""


class Cursor(msgspec.Struct, frozen=True):
    """Where a shard's walk stands: ``position`` steps done, plus what identifies the walk.

    ``position`` counts steps of the cycle segment (skipped residues included), then entries
    of the tail; resuming at it yields exactly the targets not yet yielded. ``fingerprint``
    covers targets, ports, seed, shard and algorithm, so a cursor is never applied to another
    walk; seed and shard are kept in clear so a resumed scan can be rebuilt from the file.
    """

    fingerprint: str
    seed: int
    shard: Shard
    position: int
    length: int

    FORMAT: ClassVar[str] = "pacsaudit-cursor"
    VERSION: ClassVar[int] = 1

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": self.FORMAT,
                "version": self.VERSION,
                "algorithm": ALGORITHM,
                "fingerprint": self.fingerprint,
                "seed": self.seed,
                "shard": str(self.shard),
                "position": self.position,
                "length": self.length,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        """Parse a saved cursor; anything unexpected is a usage error, never a crash."""
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"saved scan state is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT:
            raise UsageError("saved scan state: not a pacsaudit cursor")
        if data.get("version") != cls.VERSION or data.get("algorithm") != ALGORITHM:
            raise UsageError(
                f"saved scan state was written by another version of the walk "
                f"({data.get('algorithm')!r}, version {data.get('version')!r})"
            )
        fingerprint = data.get("fingerprint")
        numbers = [data.get(k) for k in ("seed", "position", "length")]
        if not isinstance(fingerprint, str) or not all(_is_int(v) for v in numbers):
            raise UsageError("saved scan state: fingerprint, seed, position or length missing")
        seed, position, length = (int(v or 0) for v in numbers)
        if not 0 <= position <= length:
            raise UsageError("saved scan state: position outside the walk")
        return cls(fingerprint, seed, Shard.parse(str(data.get("shard", ""))), position, length)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def walk_fingerprint(space: WalkableSpace, seed: int, shard: Shard) -> str:
    """Identity of one shard's walk: the same targets and ports walked with another seed or as
    another shard is another sequence, and a saved position means nothing there."""
    text = f"{ALGORITHM}\n{space.fingerprint}\nseed={seed}\nshard={shard}\n"
    return hashlib.sha256(text.encode()).hexdigest()


class TargetWalk:
    """One shard of the seeded permutation of a :class:`TargetSpace`, as a lazy iterator.

    ``next()`` returns :class:`~pacsaudit.targets.spec.Target` objects; :attr:`position` is the
    step the next call starts from and :meth:`cursor` packs it for saving. Resume with
    :meth:`resume` (or ``position=``) and the walk goes on exactly where it stopped.
    """

    def __init__(
        self,
        space: WalkableSpace,
        *,
        seed: int,
        shard: Shard | None = None,
        position: int = 0,
    ) -> None:
        self.space = space
        self.seed = seed
        self.shard = shard or Shard()
        self.group: CyclicGroup | None = (
            CyclicGroup.for_size(space.ipv4_size, seed) if space.ipv4_size else None
        )
        order = self.group.order if self.group else 0
        self._cycle_start, cycle_stop = self.shard.segment(order)
        self._tail_start, tail_stop = self.shard.segment(space.tail_size)
        self.cycle_length = cycle_stop - self._cycle_start
        self.length = self.cycle_length + (tail_stop - self._tail_start)
        """Positions in this shard: its cycle steps plus its tail entries."""
        if not 0 <= position <= self.length:
            raise ValueError(f"position {position} outside 0..{self.length}")
        self._position = position
        self.fingerprint = walk_fingerprint(space, seed, self.shard)
        self._steps: Iterator[Target] = self._generate()

    @classmethod
    def resume(cls, space: WalkableSpace, cursor: Cursor) -> TargetWalk:
        """The walk a cursor was saved from, at its position; refuses a cursor of another walk."""
        expected = walk_fingerprint(space, cursor.seed, cursor.shard)
        if cursor.fingerprint != expected:
            raise CursorMismatch(
                "saved scan state belongs to another scan: targets, exclusions, ports, seed or "
                "shard differ from the ones it was saved with"
            )
        walk = cls(space, seed=cursor.seed, shard=cursor.shard, position=cursor.position)
        if walk.length != cursor.length:  # pragma: no cover - implied by the fingerprint
            raise CursorMismatch("saved scan state does not match the walk's length")
        return walk

    @property
    def position(self) -> int:
        """Steps taken: every target before it has been yielded, none after it."""
        return self._position

    @property
    def done(self) -> bool:
        return self._position >= self.length

    def cursor(self, position: int | None = None) -> Cursor:
        """The state to save. ``position`` defaults to the current one; an engine with targets
        in flight passes :attr:`Watermark.position` instead, so none of them is lost."""
        at = self._position if position is None else position
        if not 0 <= at <= self.length:
            raise ValueError(f"position {at} outside 0..{self.length}")
        return Cursor(self.fingerprint, self.seed, self.shard, at, self.length)

    def __iter__(self) -> Iterator[Target]:
        return self

    def __next__(self) -> Target:
        return next(self._steps)

    def positioned(self) -> Iterator[tuple[int, Target]]:
        """``(position, target)`` pairs: ``position`` is the step that produced the target, so
        resuming at ``position + 1`` continues right after it (see :class:`Watermark`)."""
        for target in self._steps:
            yield self._position - 1, target

    def batch(self, limit: int) -> list[Target]:
        """Up to ``limit`` targets at once, for an engine that refills a queue in chunks."""
        out: list[Target] = []
        if limit < 1:
            return out
        append = out.append
        for target in self._steps:
            append(target)
            if len(out) >= limit:
                break
        return out

    def _generate(self) -> Iterator[Target]:
        # The hot loop: one multiplication and one modulo per step; locals only, position
        # written back only when a target is yielded (the consumer can observe it only then).
        if self.group is not None and self._position < self.cycle_length:
            group = self.group
            p, g, size = group.prime, group.generator, group.size
            stop = self.cycle_length
            step = self._position
            x = group.element_at(self._cycle_start + step)
            to_target = self.space.ipv4_target
            while step < stop:
                index = x - 1
                x = x * g % p
                step += 1
                if index < size:
                    self._position = step
                    yield to_target(index)
            self._position = stop
        tail_target = self.space.tail_target
        while self._position < self.length:
            t = self._tail_start + self._position - self.cycle_length
            self._position += 1
            yield tail_target(t)


def permuted_targets(
    space: AddressSpace,
    ports: Sequence[int],
    *,
    seed: int,
    shard: Shard | None = None,
    cursor: Cursor | None = None,
) -> TargetWalk:
    """The engine's entry point: a lazy iterator of targets for one shard, resumed from
    ``cursor`` when given (whose seed and shard then win over the arguments)."""
    target_space = TargetSpace(space, ports)
    if cursor is not None:
        return TargetWalk.resume(target_space, cursor)
    return TargetWalk(target_space, seed=seed, shard=shard)


class Watermark:
    """The position it is safe to save while targets are still in flight.

    An engine dispatches targets in walk order and they finish in any order. Saving the walk's
    own position would lose the unfinished ones; saving the oldest unfinished position instead
    loses none, and repeats at most the targets that were in flight (bounded by concurrency).
    Memory is O(targets in flight).
    """

    __slots__ = ("_done", "_floor", "_pending")

    def __init__(self, start: int = 0) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._floor = start

    def dispatched(self, position: int) -> None:
        """Record a target handed to the engine, by the position from :meth:`positioned`."""
        if self._pending and position <= self._pending[-1]:
            raise ValueError("positions must be dispatched in walk order")
        self._pending.append(position)

    def finished(self, position: int) -> None:
        self._done.add(position)
        while self._pending and self._pending[0] in self._done:
            first = self._pending.popleft()
            self._done.discard(first)
            self._floor = first + 1

    @property
    def position(self) -> int:
        """Resume here: the oldest unfinished target, or just after the last finished one."""
        return self._pending[0] if self._pending else self._floor

    @property
    def in_flight(self) -> int:
        return len(self._pending) - len(self._done)
