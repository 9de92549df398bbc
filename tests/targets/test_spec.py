"""Target specifications: every form a user may type, and every way to get it wrong.

Addresses here come from the documentation ranges (RFC 5737: 192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24; RFC 3849: 2001:db8::/32). They are only parsed: nothing in this file opens a
socket, and the only name resolved is ``localhost``.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacsaudit.targets.spec import (
    AddressSpace,
    IntervalSet,
    SourcedEntry,
    Target,
    apply_exclusions,
    build_space,
    exclusion_set,
    iter_targets,
    parse_address_entry,
    parse_ports,
    read_entries,
    resolve_name,
)
from pacsaudit.usage import UsageError


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def entries(*texts: str) -> list[SourcedEntry]:
    return [SourcedEntry(t, f"argument {n}") for n, t in enumerate(texts, 1)]


def no_dns(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"unexpected resolution of {args[0]!r}")


class TestAddressForms:
    @pytest.mark.parametrize(
        ("entry", "expected"),
        [
            ("192.0.2.7", (4, v4("192.0.2.7"), v4("192.0.2.7"))),
            ("  198.51.100.1  ", (4, v4("198.51.100.1"), v4("198.51.100.1"))),
            ("203.0.113.0/24", (4, v4("203.0.113.0"), v4("203.0.113.255"))),
            ("203.0.113.77/24", (4, v4("203.0.113.0"), v4("203.0.113.255"))),  # host bits
            ("192.0.2.5/32", (4, v4("192.0.2.5"), v4("192.0.2.5"))),
            ("192.0.2.10-20", (4, v4("192.0.2.10"), v4("192.0.2.20"))),
            ("192.0.2.10-10", (4, v4("192.0.2.10"), v4("192.0.2.10"))),
            ("192.0.2.0-255", (4, v4("192.0.2.0"), v4("192.0.2.255"))),
            ("192.0.2.250-198.51.100.3", (4, v4("192.0.2.250"), v4("198.51.100.3"))),
            ("2001:db8::1", (6, v6("2001:db8::1"), v6("2001:db8::1"))),
            ("[2001:db8::2]", (6, v6("2001:db8::2"), v6("2001:db8::2"))),
            ("2001:db8::/120", (6, v6("2001:db8::"), v6("2001:db8::ff"))),
            ("2001:db8::1-2001:db8::1:0", (6, v6("2001:db8::1"), v6("2001:db8::1:0"))),
            ("::ffff:192.0.2.1", (6, v6("::ffff:192.0.2.1"), v6("::ffff:192.0.2.1"))),
        ],
    )
    def test_numbers(self, entry: str, expected: tuple[int, int, int]) -> None:
        assert parse_address_entry(entry) == expected

    @pytest.mark.parametrize(
        ("entry", "name"),
        [
            ("pacs.example.org", "pacs.example.org"),
            ("PACS.Example.ORG.", "pacs.example.org"),
            ("localhost", "localhost"),
            ("pacs-1", "pacs-1"),
            ("_dicom._tcp.example.org", "_dicom._tcp.example.org"),
            # six dots and a dash: a host name, not an address range
            ("pacs-1.rad.dept.site.region.example.org", "pacs-1.rad.dept.site.region.example.org"),
            ("1-2.example.org", "1-2.example.org"),
        ],
    )
    def test_host_names(self, entry: str, name: str) -> None:
        assert parse_address_entry(entry) == name

    @pytest.mark.parametrize(
        ("entry", "reason"),
        [
            ("", "empty"),
            ("   ", "empty"),
            ("192.0.2.256", "not a valid IPv4 address"),
            ("192.0.2", "not a valid IPv4 address"),
            ("192.0.2.1.5", "not a valid IPv4 address"),
            ("192.0.2.010", "not a valid IPv4 address"),  # leading zero: octal to inet_aton
            ("3232235777", "not a valid IPv4 address"),  # an integer, inet_aton would take it
            ("192.0.2.20-10", "ends before it starts"),
            ("192.0.2.10-256", "not an octet"),
            ("192.0.2.1-010", "not an octet"),
            ("192.0.2.300-310", "not an IP address"),
            ("192.0.2.1-", "not an IP address"),
            ("192.0.2.9-192.0.2.1", "ends before it starts"),
            ("192.0.2.1-2001:db8::1", "mixes IPv4 and IPv6"),
            ("2001:db8::1-ff", "not an IP address"),
            ("192.0.2.0/33", "not a CIDR block"),
            ("192.0.2.0/x", "not a CIDR block"),
            ("2001:db8::/129", "not a CIDR block"),
            ("192.0.2-5", "not a valid IPv4 range"),
            ("10-20", "not a valid IPv4 range"),
            ("pacs_host!", "neither"),
            ("-pacs.example.org", "neither"),
            ("a" * 64 + ".example.org", "neither"),
            ("pacs..example.org", "neither"),
            ("gopher://pacs", "not a CIDR block"),
            ("pacs.example.org:104", "neither"),
        ],
    )
    def test_bad_entries(self, entry: str, reason: str) -> None:
        with pytest.raises(ValueError, match=reason):
            parse_address_entry(entry)


class TestBuildSpace:
    def test_collapses_overlaps(self) -> None:
        space = build_space(
            entries("192.0.2.0/25", "192.0.2.100-200", "192.0.2.201", "198.51.100.1"),
            resolve=False,
        )
        assert space.v4.intervals == [
            (v4("192.0.2.0"), v4("192.0.2.201")),
            (v4("198.51.100.1"), v4("198.51.100.1")),
        ]
        assert space.size() == 203

    def test_families_kept_apart(self) -> None:
        space = build_space(entries("192.0.2.1", "2001:db8::1", "2001:db8::/127"), resolve=False)
        assert space.v4.size() == 1
        assert space.v6.intervals == [(v6("2001:db8::"), v6("2001:db8::1"))]

    def test_large_blocks_stay_small(self) -> None:
        space = build_space(entries("10.0.0.0/8", "2001:db8::/32"), resolve=False)
        assert space.size() == (1 << 24) + (1 << 96)
        assert len(space.v4.intervals) == 1

    def test_bad_entry_names_its_origin(self) -> None:
        with pytest.raises(UsageError, match=r"argument 2: bad target '192\.0\.2\.300'"):
            build_space(entries("192.0.2.1", "192.0.2.300"), resolve=False)

    def test_bad_entry_in_a_file_names_file_and_line(self) -> None:
        lines = ["# scope of the audit\n", "192.0.2.0/28, 198.51.100.7\n", "\n", "203.0.113.x\n"]
        with pytest.raises(UsageError, match=r"^hosts\.txt:4: bad target '203\.0\.113\.x'"):
            build_space(read_entries(lines, "hosts.txt"), resolve=False)

    def test_every_entry_checked_before_any_name_is_resolved(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", no_dns)
        with pytest.raises(UsageError, match="argument 2"):
            build_space(entries("pacs.example.org", "192.0.2.999"))

    def test_names_refused_where_not_allowed(self) -> None:
        with pytest.raises(UsageError, match=r"argument 2: bad target 'pacs\.example\.org'"):
            build_space(entries("192.0.2.1", "pacs.example.org"), resolve=False)

    def test_names_resolved_once_in_resolver_order(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[str] = []

        def fake(name: str, *args: Any, **kwargs: Any) -> list[Any]:
            calls.append(name)
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::5", 0, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.5", 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.5", 0)),
            ]

        monkeypatch.setattr(socket, "getaddrinfo", fake)
        space = build_space(entries("PACS.example.org", "pacs.example.org."))
        assert calls == ["pacs.example.org"]
        assert space.names == {"pacs.example.org": ["2001:db8::5", "192.0.2.5"]}
        assert space.size() == 2

    def test_unresolvable_name_names_its_origin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", fail)
        with pytest.raises(UsageError, match=r"hosts\.txt:3: cannot resolve host name 'x\.y'"):
            build_space([SourcedEntry("x.y", "hosts.txt:3")])

    def test_localhost_resolves_to_loopback(self) -> None:
        addresses = resolve_name("localhost", "argument 1")
        assert addresses
        assert all(ipaddress.ip_address(a).is_loopback for a in addresses)


class TestReadEntries:
    def test_comments_commas_and_blank_lines(self) -> None:
        lines = [
            "# a comment line\n",
            "192.0.2.1 192.0.2.2,192.0.2.3  # trailing comment, 192.0.2.99\n",
            "\n",
            "  2001:db8::1\t\n",
        ]
        got = [(e.text, e.origin) for e in read_entries(lines, "list.txt")]
        assert got == [
            ("192.0.2.1", "list.txt:2"),
            ("192.0.2.2", "list.txt:2"),
            ("192.0.2.3", "list.txt:2"),
            ("2001:db8::1", "list.txt:4"),
        ]


class TestPorts:
    @pytest.mark.parametrize(
        ("spec", "ports"),
        [
            ("104", (104,)),
            ("104,11112,4242", (104, 11112, 4242)),
            ("104, 11112 ,\t4242", (104, 11112, 4242)),
            ("11112,104,11112", (11112, 104)),
            ("2761-2763", (2761, 2762, 2763)),
            ("1", (1,)),
            ("65535", (65535,)),
            ("104,100-105", (104, 100, 101, 102, 103, 105)),
            ("104,,", (104,)),
        ],
    )
    def test_good(self, spec: str, ports: tuple[int, ...]) -> None:
        assert parse_ports(spec) == ports

    def test_full_range(self) -> None:
        assert len(parse_ports("1-65535")) == 65535

    @pytest.mark.parametrize(
        ("spec", "reason"),
        [
            ("", "no ports"),
            (",", "no ports"),
            ("0", "1 to 65535"),
            ("65536", "1 to 65535"),
            ("200-100", "1 to 65535"),
            ("100-70000", "1 to 65535"),
            ("http", "numbers or ranges"),
            ("104-", "numbers or ranges"),
            ("-104", "numbers or ranges"),
            ("+104", "numbers or ranges"),
            ("1_04", "numbers or ranges"),
            ("١٠٤", "numbers or ranges"),  # Arabic-Indic digits: int() would take them
            ("104-105-106", "numbers or ranges"),
            ("104.5", "numbers or ranges"),
        ],
    )
    def test_bad(self, spec: str, reason: str) -> None:
        with pytest.raises(UsageError, match=reason):
            parse_ports(spec)


class TestExclusions:
    def test_subtract_blocks_and_single_addresses(self) -> None:
        space = build_space(entries("192.0.2.0/24", "198.51.100.0/30"), resolve=False)
        excluded = exclusion_set(entries("192.0.2.0/25", "192.0.2.200", "198.51.100.0-3"))
        kept = apply_exclusions(space, excluded)
        assert kept.v4.intervals == [
            (v4("192.0.2.128"), v4("192.0.2.199")),
            (v4("192.0.2.201"), v4("192.0.2.255")),
        ]
        assert kept.size() == 127

    def test_exclusions_are_per_family(self) -> None:
        space = build_space(entries("192.0.2.1", "2001:db8::/126"), resolve=False)
        kept = apply_exclusions(space, exclusion_set(entries("2001:db8::2", "203.0.113.0/24")))
        assert kept.v4.size() == 1
        assert kept.v6.intervals == [
            (v6("2001:db8::"), v6("2001:db8::1")),
            (v6("2001:db8::3"), v6("2001:db8::3")),
        ]

    def test_resolved_names_are_filtered_too(self) -> None:
        space = AddressSpace(
            names={"a.example": ["192.0.2.5", "2001:db8::5"], "b.example": ["192.0.2.6"]}
        )
        kept = apply_exclusions(space, exclusion_set(entries("192.0.2.0/29")))
        assert kept.names == {"a.example": ["2001:db8::5"]}  # b.example lost its only address

    def test_host_names_refused_in_exclusions(self) -> None:
        with pytest.raises(UsageError, match=r"blocklist\.txt:2: bad target 'pacs\.example'"):
            exclusion_set(
                [
                    SourcedEntry("192.0.2.1", "blocklist.txt:1"),
                    SourcedEntry("pacs.example", "blocklist.txt:2"),
                ]
            )


class TestIterTargets:
    def test_ports_vary_fastest_numbers_before_names(self) -> None:
        space = build_space(entries("192.0.2.1-2", "2001:db8::1"), resolve=False)
        space.names["pacs.example"] = ["198.51.100.9"]
        got = list(iter_targets(space, (104, 11112)))
        assert got == [
            Target("192.0.2.1", 104),
            Target("192.0.2.1", 11112),
            Target("192.0.2.2", 104),
            Target("192.0.2.2", 11112),
            Target("2001:db8::1", 104),
            Target("2001:db8::1", 11112),
            Target("198.51.100.9", 104, "pacs.example"),
            Target("198.51.100.9", 11112, "pacs.example"),
        ]

    def test_lazy_over_a_large_block(self) -> None:
        space = build_space(entries("10.0.0.0/8"), resolve=False)
        iterator = iter_targets(space, (104,))
        first = [next(iterator) for _ in range(3)]
        assert [t.ip for t in first] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]


# --- IntervalSet against Python sets -------------------------------------------------------

intervals = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 8)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=6,
)


def as_set(pairs: list[tuple[int, int]]) -> set[int]:
    return {n for lo, hi in pairs for n in range(lo, hi + 1)}


class TestIntervalSet:
    @settings(max_examples=300, deadline=None)
    @given(a=intervals, b=intervals)
    def test_matches_python_sets(self, a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
        left, right = IntervalSet(a), IntervalSet(b)
        assert set(left - right) == as_set(a) - as_set(b)
        assert set(left | right) == as_set(a) | as_set(b)
        assert left.size() == len(as_set(a))
        for n in range(-1, 71):
            assert (n in left) == (n in as_set(a))
        # normal form: sorted, disjoint, not even touching
        for result in (left, left - right, left | right):
            pairs = result.intervals
            assert all(lo <= hi for lo, hi in pairs)
            assert all(pairs[i][1] + 1 < pairs[i + 1][0] for i in range(len(pairs) - 1))
            assert list(result) == sorted(set(result))

    def test_merges_adjacent(self) -> None:
        assert IntervalSet([(5, 7), (1, 4), (8, 8)]).intervals == [(1, 8)]
        assert IntervalSet([(1, 3), (5, 6)]).intervals == [(1, 3), (5, 6)]

    def test_empty(self) -> None:
        empty = IntervalSet()
        assert not empty
        assert len(empty) == 0
        assert list(empty - IntervalSet([(1, 2)])) == []
        assert (IntervalSet([(1, 2)]) - empty).intervals == [(1, 2)]

    def test_ipv6_sized_values(self) -> None:
        top = (1 << 128) - 1
        whole = IntervalSet([(0, top)])
        assert top in whole
        assert (whole - IntervalSet([(1, top)])).intervals == [(0, 0)]
        assert whole.size() == 1 << 128
