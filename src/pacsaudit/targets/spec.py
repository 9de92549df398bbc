"""Target specifications: addresses, CIDR blocks, ranges, host names, ports.

Everything a user types is parsed here, before any packet is sent; a bad entry raises
:class:`~pacsaudit.errors.UsageError` naming the entry and where it came from. Addresses are
kept as integer intervals, never expanded, so a /8 costs as little memory as a /32 and overlaps
between entries collapse (each address is probed once per port).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence

import msgspec

from pacsaudit.targets.packed import packed
from pacsaudit.usage import UsageError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Target(msgspec.Struct, frozen=True):
    """One address and port to probe; ``host`` is the name the user gave, if any."""

    ip: str
    port: int
    host: str | None = None


class IntervalSet:
    """A set of integers stored as sorted, disjoint, inclusive intervals.

    The interval ends live in packed arrays (:mod:`pacsaudit.targets.packed`): 8 bytes per
    IPv4 interval instead of about 120 as a list of tuples, so a target file of millions of
    scattered addresses stays small. Immutable: the size is computed once."""

    __slots__ = ("_firsts", "_lasts", "_size")

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        pairs = self._normalise(intervals)
        upper = pairs[-1][1] + 1 if pairs else 0
        self._firsts: Sequence[int] = packed((lo for lo, _ in pairs), upper)
        self._lasts: Sequence[int] = packed((hi for _, hi in pairs), upper)
        self._size = sum(hi - lo + 1 for lo, hi in pairs)

    @classmethod
    def from_sorted(cls, firsts: Sequence[int], lasts: Sequence[int]) -> IntervalSet:
        """Adopt interval ends that are already sorted, disjoint and not adjacent (as
        :class:`~pacsaudit.targets.compact.IntervalCollector` makes them), without copying."""
        if len(firsts) != len(lasts):
            raise ValueError("firsts and lasts differ in length")
        self = cls.__new__(cls)
        self._firsts, self._lasts = firsts, lasts
        self._size = len(firsts) + sum(lasts) - sum(firsts)
        return self

    @staticmethod
    def _normalise(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for lo, hi in sorted(intervals):
            if out and lo <= out[-1][1] + 1:
                if hi > out[-1][1]:
                    out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        return out

    @property
    def intervals(self) -> list[tuple[int, int]]:
        """A copy as a list of pairs (small sets; iterate :meth:`pairs` for large ones)."""
        return list(zip(self._firsts, self._lasts, strict=True))

    def pairs(self) -> Iterator[tuple[int, int]]:
        """The intervals in order, lazily."""
        return zip(self._firsts, self._lasts, strict=True)

    @property
    def firsts(self) -> Sequence[int]:
        """Each interval's first number, ascending (shared, not copied: do not modify)."""
        return self._firsts

    def count(self) -> int:
        """How many intervals."""
        return len(self._firsts)

    def __len__(self) -> int:  # may exceed sys.maxsize for IPv6; use size() then
        return self.size()

    def size(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return bool(self._firsts)

    def __contains__(self, value: int) -> bool:
        i = bisect_right(self._firsts, value) - 1
        return i >= 0 and value <= self._lasts[i]

    def __sub__(self, other: IntervalSet) -> IntervalSet:
        result: list[tuple[int, int]] = []
        cuts_lo, cuts_hi = other._firsts, other._lasts
        j, n = 0, len(cuts_lo)
        for lo, hi in self.pairs():
            while j < n and cuts_hi[j] < lo:
                j += 1
            k = j
            cur = lo
            while k < n and cuts_lo[k] <= hi:
                if cuts_lo[k] > cur:
                    result.append((cur, cuts_lo[k] - 1))
                cur = max(cur, cuts_hi[k] + 1)
                k += 1
            if cur <= hi:
                result.append((cur, hi))
        return IntervalSet(result)

    def __or__(self, other: IntervalSet) -> IntervalSet:
        return IntervalSet([*self.pairs(), *other.pairs()])

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self.pairs():
            yield from range(lo, hi + 1)


class AddressSpace(msgspec.Struct):
    """The addresses to scan, per family, plus host names resolved to addresses."""

    v4: IntervalSet = msgspec.field(default_factory=IntervalSet)
    v6: IntervalSet = msgspec.field(default_factory=IntervalSet)
    names: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Host name → resolved addresses, in the order the resolver gave them."""

    def size(self) -> int:
        return self.v4.size() + self.v6.size() + sum(len(a) for a in self.names.values())

    def addresses(self) -> Iterator[tuple[str, str | None]]:
        """(address, host name or None), numbered targets first, lazily."""
        for n in self.v4:
            yield str(ipaddress.IPv4Address(n)), None
        for n in self.v6:
            yield str(ipaddress.IPv6Address(n)), None
        for name, addrs in self.names.items():
            for a in addrs:
                yield a, name


_DIGITS = re.compile(r"[0-9]{1,5}")
_RANGE_SHORT = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)"
    r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)


def parse_address_entry(entry: str) -> tuple[int, int, int] | str:
    """Parse one entry to (family 4|6, first, last) or return it as a host name to resolve.

    Accepts ``192.0.2.7``, ``2001:db8::1``, ``192.0.2.0/24``, ``2001:db8::/120``,
    ``192.0.2.10-20`` and ``192.0.2.10-192.0.2.20``. Raises ValueError with a reason.
    """
    text = entry.strip()
    if not text:
        raise ValueError("empty entry")
    try:  # the common case of big lists, in C: inet_pton is as strict as ipaddress for IPv4
        number = int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        pass
    else:
        return 4, number, number
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ValueError(f"not a CIDR block ({exc})") from None
        return net.version, int(net.network_address), int(net.broadcast_address)
    m = _RANGE_SHORT.match(text)
    if m:
        first = _ip(m.group(1) + m.group(2))
        end_text = m.group(3)
        if int(end_text) > 255 or (len(end_text) > 1 and end_text[0] == "0"):
            # Leading zeros are refused as in addresses: inet_aton would read "010" as octal.
            raise ValueError("range end is not an octet")
        last = int(first) - int(m.group(2)) + int(end_text)
        return _interval(first, ipaddress.IPv4Address(last))
    if "-" in text:
        left, _, right = text.partition("-")
        # A range only when it starts with an address: "pacs-1.a.b.c.d.e.f" is a host name.
        if _is_ip(left):
            return _interval(_ip(left), _ip(right))
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        return addr.version, int(addr), int(addr)
    if re.fullmatch(r"[\d.]+", text):
        raise ValueError("not a valid IPv4 address")
    if re.fullmatch(r"[\d.-]+", text):
        # Digits, dots and dashes only: a mistyped range, never a name worth a DNS query.
        raise ValueError("not a valid IPv4 range (a.b.c.d-e or a.b.c.d-w.x.y.z)")
    if not _HOSTNAME.match(text):
        raise ValueError("neither an address, a CIDR block, a range nor a host name")
    return text.rstrip(".").lower()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


def _ip(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an IP address") from None


def _interval(first: IPAddress, last: IPAddress) -> tuple[int, int, int]:
    if first.version != last.version:
        raise ValueError("range mixes IPv4 and IPv6")
    if int(last) < int(first):
        raise ValueError("range ends before it starts")
    return first.version, int(first), int(last)


class SourcedEntry(msgspec.Struct, frozen=True):
    text: str
    origin: str
    """Where the entry came from, for error messages: ``argument 2``, ``hosts.txt:14``."""


def read_entries(lines: Iterable[str], origin: str) -> Iterator[SourcedEntry]:
    """Entries from a file or stdin: one or more per line, ``#`` starts a comment."""
    for number, line in enumerate(lines, 1):
        content = line.split("#", 1)[0]
        if number == 1:
            content = content.removeprefix("\ufeff")  # a byte order mark, not an entry
        for token in content.replace(",", " ").split():
            yield SourcedEntry(token, f"{origin}:{number}")


def build_space(entries: Iterable[SourcedEntry], *, resolve: bool = True) -> AddressSpace:
    """Collapse entries into an :class:`AddressSpace`, resolving host names.

    Every entry is checked before the first is used: one bad entry fails the whole list with a
    message naming it, so a typo never leads to half a scan.
    """
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    names: dict[str, str] = {}
    for entry in entries:
        try:
            parsed = parse_address_entry(entry.text)
        except ValueError as exc:
            raise UsageError(f"{entry.origin}: bad target {entry.text!r}: {exc}") from None
        if isinstance(parsed, str):
            names.setdefault(parsed, entry.origin)
        else:
            family, lo, hi = parsed
            (v4 if family == 4 else v6).append((lo, hi))
    space = AddressSpace(IntervalSet(v4), IntervalSet(v6))
    if resolve:
        for name, origin in names.items():
            space.names[name] = resolve_name(name, origin)
    elif names:
        name, origin = next(iter(names.items()))
        raise UsageError(f"{origin}: bad target {name!r}: host names are not allowed here")
    return space


def resolve_name(name: str, origin: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "invalid name"
        raise UsageError(f"{origin}: cannot resolve host name {name!r}: {reason}") from None
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def parse_ports(spec: str) -> tuple[int, ...]:
    """``104,4242,11112`` or ``8000-8100``; duplicates removed, order kept."""
    ports: dict[int, None] = {}
    for part in "".join(spec.split()).split(","):
        if not part:
            continue
        lo_text, sep, hi_text = part.partition("-")
        # ASCII digits only: int() would also take "+80", "1_000" and other scripts' digits.
        if not _DIGITS.fullmatch(lo_text) or (sep and not _DIGITS.fullmatch(hi_text)):
            raise UsageError(f"bad port {part!r}: ports are numbers or ranges like 100-200")
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
        if not (1 <= lo <= 65535 and 1 <= hi <= 65535) or hi < lo:
            raise UsageError(f"bad port {part!r}: ports run from 1 to 65535")
        for p in range(lo, hi + 1):
            ports.setdefault(p, None)
    if not ports:
        raise UsageError("no ports given")
    return tuple(ports)


def exclusion_set(entries: Iterable[SourcedEntry]) -> AddressSpace:
    """Exclusions are numbers only: a host name in a blocklist would be resolved at the wrong
    time and could change between runs."""
    return build_space(entries, resolve=False)


def apply_exclusions(space: AddressSpace, excluded: AddressSpace) -> AddressSpace:
    names = {
        name: [a for a in addrs if not _is_in(a, excluded)] for name, addrs in space.names.items()
    }
    return AddressSpace(
        space.v4 - excluded.v4, space.v6 - excluded.v6, {n: a for n, a in names.items() if a}
    )


def _is_in(address: str, space: AddressSpace) -> bool:
    ip = ipaddress.ip_address(address)
    return int(ip) in (space.v4 if ip.version == 4 else space.v6)


def iter_targets(space: AddressSpace, ports: tuple[int, ...]) -> Iterator[Target]:
    """Every address × port once. Ports vary fastest, so one host's ports are probed together
    and its per-host state stays short-lived."""
    for ip, host in space.addresses():
        for port in ports:
            yield Target(ip, port, host)
