"""The shipped blocklist and the explicit-target rule.

Nothing here opens a socket. Scopes are computed from numbers; the only real name resolved is
``localhost``, other names go through a stub resolver.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacsaudit.targets import blocklist as blocklist_module
from pacsaudit.targets.blocklist import (
    LOCAL_TAG,
    BlockedRange,
    Blocklist,
    default_blocklist,
    load_blocklist,
)
from pacsaudit.targets.permutation import Shard, TargetSpace, TargetWalk
from pacsaudit.targets.spec import IntervalSet, SourcedEntry
from pacsaudit.usage import UsageError

CONF = Path(blocklist_module.__file__).parent.parent / "data" / "blocklist.conf"

# The rows of IANA's registries (address block, RFC) as of the copies checked in 2026 (see the
# header of blocklist.conf). Two blocks in one cell are listed separately.
IANA_IPV4 = [
    ("0.0.0.0/8", "RFC791"),
    ("0.0.0.0/32", "RFC1122"),
    ("10.0.0.0/8", "RFC1918"),
    ("100.64.0.0/10", "RFC6598"),
    ("127.0.0.0/8", "RFC1122"),
    ("169.254.0.0/16", "RFC3927"),
    ("172.16.0.0/12", "RFC1918"),
    ("192.0.0.0/24", "RFC6890"),
    ("192.0.0.0/29", "RFC7335"),
    ("192.0.0.8/32", "RFC7600"),
    ("192.0.0.9/32", "RFC7723"),
    ("192.0.0.10/32", "RFC8155"),
    ("192.0.0.170/32", "RFC8880"),
    ("192.0.0.171/32", "RFC8880"),
    ("192.0.2.0/24", "RFC5737"),
    ("192.31.196.0/24", "RFC7535"),
    ("192.52.193.0/24", "RFC7450"),
    ("192.88.99.0/24", "RFC7526"),
    ("192.88.99.2/32", "RFC6751"),
    ("192.168.0.0/16", "RFC1918"),
    ("192.175.48.0/24", "RFC7534"),
    ("198.18.0.0/15", "RFC2544"),
    ("198.51.100.0/24", "RFC5737"),
    ("203.0.113.0/24", "RFC5737"),
    ("240.0.0.0/4", "RFC1112"),
    ("255.255.255.255/32", "RFC919"),
]
IANA_IPV6 = [
    ("::1/128", "RFC4291"),
    ("::/128", "RFC4291"),
    ("::ffff:0:0/96", "RFC4291"),
    ("64:ff9b::/96", "RFC6052"),
    ("64:ff9b:1::/48", "RFC8215"),
    ("100::/64", "RFC6666"),
    ("100:0:0:1::/64", "RFC9780"),
    ("2001::/23", "RFC2928"),
    ("2001::/32", "RFC4380"),
    ("2001:1::1/128", "RFC7723"),
    ("2001:1::2/128", "RFC8155"),
    ("2001:1::3/128", "RFC9665"),
    ("2001:2::/48", "RFC5180"),
    ("2001:3::/32", "RFC7450"),
    ("2001:4:112::/48", "RFC7535"),
    ("2001:10::/28", "RFC4843"),
    ("2001:20::/28", "RFC7343"),
    ("2001:30::/28", "RFC9374"),
    ("2001:db8::/32", "RFC3849"),
    ("2002::/16", "RFC3056"),
    ("2620:4f:8000::/48", "RFC7534"),
    ("3fff::/20", "RFC9637"),
    ("5f00::/16", "RFC9602"),
    ("fc00::/7", "RFC4193"),
    ("fe80::/10", "RFC4291"),
]
MULTICAST = [("224.0.0.0/4", "RFC5771"), ("ff00::/8", "RFC4291")]
# ZMap's conf/blocklist.conf: pacsaudit must block at least what ZMap blocks.
ZMAP_DEFAULT = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "224.0.0.0/4",
]
LOCAL = {"10.0.0.0/8", "127.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7"}


def scope_of(*texts: str, blocklist: Blocklist | None = None) -> blocklist_module.Scope:
    entries = [SourcedEntry(t, f"argument {n}") for n, t in enumerate(texts, 1)]
    return (blocklist or default_blocklist()).scope(entries, resolve=False)


def net(text: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(text)
    return network.version, int(network.network_address), int(network.broadcast_address)


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


# ---------------------------------------------------------------------------------------------
# The shipped list.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("block", "rfc"), IANA_IPV4 + IANA_IPV6 + MULTICAST)
def test_every_registry_row_is_blocked_with_its_rfc(block: str, rfc: str) -> None:
    blocklist = default_blocklist()
    family, first, last = net(block)
    assert not IntervalSet([(first, last)]) - blocklist.blocked(family)
    exact = [r for r in blocklist.ranges if (r.family, r.first, r.last) == (family, first, last)]
    assert len(exact) == 1, f"{block} has no line of its own"
    assert rfc in exact[0].note.replace(" ", "")


def test_zmaps_default_blocklist_is_a_subset() -> None:
    blocklist = default_blocklist()
    for block in ZMAP_DEFAULT:
        family, first, last = net(block)
        remaining = IntervalSet([(first, last)]) - blocklist.blocked(family)
        assert not remaining, block


def test_local_blocks_are_exactly_loopback_and_private_use() -> None:
    assert {str(r) for r in default_blocklist().ranges if r.local} == LOCAL


def test_conf_lines_are_readable_by_zmap_and_masscan() -> None:
    """Both drop what follows '#' (ZMap then reads one word): each data line must be
    one CIDR block, a comment, and nothing between."""
    for number, line in enumerate(CONF.read_text().splitlines(), 1):
        content, _, comment = line.partition("#")
        if not content.strip():
            continue
        words = content.split()
        assert len(words) == 1, f"line {number}: one block per line"
        ipaddress.ip_network(words[0])  # strict: no host bits set
        assert re.search(r"RFC\d+", comment), f"line {number}: no RFC"


def test_find_gives_the_most_specific_reason() -> None:
    blocklist = default_blocklist()
    found = blocklist.find("192.0.0.9")
    assert found is not None
    assert str(found) == "192.0.0.9/32"
    assert "Port Control Protocol" in found.note
    outer = blocklist.find("192.0.0.200")
    assert outer is not None
    assert str(outer) == "192.0.0.0/24"
    assert blocklist.find("8.8.8.8") is None
    assert blocklist.find("2001:4860::1") is None
    assert str(blocklist.find("ff02::1")) == "ff00::/8"


# ---------------------------------------------------------------------------------------------
# The rule.
# ---------------------------------------------------------------------------------------------


def test_wide_scan_skips_every_block() -> None:
    scope = scope_of("0.0.0.0/0")
    for address in ("10.1.2.3", "127.0.0.1", "192.168.0.1", "172.16.5.5", "224.0.0.1"):
        assert address not in scope
    for address in ("192.0.2.1", "0.0.0.0", "255.255.255.255", "100.64.0.1", "169.254.1.1"):
        assert address not in scope
    assert "8.8.8.8" in scope
    assert scope.space.v4.size() == (1 << 32) - default_blocklist().blocked(4).size()
    assert scope.excluded == default_blocklist().blocked(4).size()


@pytest.mark.parametrize(
    ("entry", "inside", "size"),
    [
        ("10.0.0.0/8", "10.255.255.255", 1 << 24),
        ("10.20.0.0/16", "10.20.1.1", 1 << 16),
        ("192.168.1.7", "192.168.1.7", 1),
        ("172.16.0.0-172.16.0.9", "172.16.0.9", 10),
        ("127.0.0.1", "127.0.0.1", 1),
        ("127.0.0.0/8", "127.1.2.3", 1 << 24),
    ],
)
def test_a_local_block_named_explicitly_is_scanned(entry: str, inside: str, size: int) -> None:
    scope = scope_of(entry)
    assert inside in scope
    assert scope.space.v4.size() == size
    assert scope.excluded == 0
    assert scope.notes == []


def test_naming_a_local_block_next_to_a_wide_entry_adds_it() -> None:
    scope = scope_of("0.0.0.0/0", "10.0.0.0/8")
    assert "10.9.9.9" in scope
    assert "192.168.0.1" not in scope
    assert "8.8.8.8" in scope


def test_an_entry_straddling_a_local_block_loses_the_inside_part() -> None:
    scope = scope_of("9.255.255.0-10.0.0.255")
    assert scope.space.v4.intervals == [(v4("9.255.255.0"), v4("9.255.255.255"))]
    assert scope.excluded == 256
    (note,) = scope.notes
    assert str(note.block) == "10.0.0.0/8"
    assert note.addresses == 256
    message = note.describe()
    assert "10.0.0.0/8" in message
    assert "RFC1918" in message
    assert "argument 1 '9.255.255.0-10.0.0.255'" in message
    assert "as a target to scan it" in message


@pytest.mark.parametrize(
    "entry",
    ["192.0.2.0/24", "192.0.2.7", "224.0.0.1", "255.255.255.255", "0.0.0.0", "198.18.0.0/15"],
)
def test_hard_blocks_are_never_scanned_even_when_named(entry: str) -> None:
    scope = scope_of(entry)
    assert scope.space.v4.size() == 0
    assert scope.excluded == ipaddress.ip_network(entry).num_addresses
    assert all(not note.block.local for note in scope.notes)
    assert "as a target to scan it" not in " ".join(scope.describe())


def test_ipv6_rule() -> None:
    scope = scope_of("fd12:3456::/64", "::1", "2001:db8::1", "::ffff:10.0.0.1", "64:ff9b::a00:1")
    assert "fd12:3456::1" in scope
    assert "::1" in scope
    for address in ("2001:db8::1", "::ffff:10.0.0.1", "64:ff9b::a00:1"):
        assert address not in scope  # embedded-IPv4 forms cannot reach a blocked IPv4 address
    wide = scope_of("::/0")
    for address in ("fd00::1", "fe80::1", "ff02::1", "2001:db8::5", "3fff::1", "2002::1"):
        assert address not in wide
    assert "2a00:1450::1" in wide


def test_user_exclusions_win_over_explicit_targets(tmp_path: Path) -> None:
    excludes = tmp_path / "never.txt"
    excludes.write_text("# our own servers\n10.1.0.0/16, 8.8.8.8  # do not touch\n")
    blocklist = load_blocklist([excludes])
    scope = scope_of("10.0.0.0/8", "8.8.8.0/24", blocklist=blocklist)
    assert "10.1.2.3" not in scope
    assert "10.2.0.1" in scope
    assert "8.8.8.8" not in scope
    assert "8.8.8.9" in scope
    reasons = {str(n.block): n.block for n in scope.notes}
    assert reasons["10.1.0.0/16"].note == "do not touch"
    assert reasons["10.1.0.0/16"].origin == f"{excludes}:2"
    assert not reasons["10.1.0.0/16"].local
    # one address, as a ZMap line names it: excluded with its note, its neighbour kept
    single = scope_of("8.8.8.8", "8.8.8.9", "10.1.0.1", blocklist=blocklist)
    assert single.space.v4.size() == 1
    assert "8.8.8.9" in single
    assert single.excluded == 2
    assert {str(n.block): n.addresses for n in single.notes} == {"8.8.8.8/32": 1, "10.1.0.0/16": 1}


def test_exclude_files_cannot_open_a_block(tmp_path: Path) -> None:
    """``@local`` counts in the shipped list only: a user file is always hard."""
    path = tmp_path / "x.txt"
    path.write_text(f"198.51.100.0/24  # mine {LOCAL_TAG}\n")
    blocklist = load_blocklist([path], use_default=False)
    assert not blocklist.ranges[0].local
    assert scope_of("198.51.100.5", blocklist=blocklist).space.v4.size() == 0


def test_bad_exclude_files_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read exclude file"):
        load_blocklist([tmp_path / "missing.txt"])
    named = tmp_path / "named.txt"
    named.write_text("192.0.2.0/24\npacs.example\n")
    with pytest.raises(UsageError, match=r"named\.txt:2: .*host names are not allowed"):
        load_blocklist([named])
    broken = tmp_path / "broken.txt"
    broken.write_text("10.0.0.0/33\n")
    with pytest.raises(UsageError, match=r"broken\.txt:1: bad blocklist entry '10\.0\.0\.0/33'"):
        load_blocklist([broken])


def test_host_names_count_as_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(name: str, origin: str) -> list[str]:
        return {"pacs.example": ["192.0.2.7", "10.1.2.3"], "doc.example": ["198.51.100.9"]}[name]

    monkeypatch.setattr(blocklist_module, "resolve_name", resolve)
    entries = [
        SourcedEntry("pacs.example", "hosts.txt:1"),
        SourcedEntry("doc.example", "hosts.txt:2"),
    ]
    scope = default_blocklist().scope(entries)
    assert scope.space.names == {"pacs.example": ["10.1.2.3"]}
    assert "10.1.2.3" in scope
    assert "192.0.2.7" not in scope
    assert scope.excluded == 2
    assert {n.example.origin for n in scope.notes if n.example} == {"hosts.txt:1", "hosts.txt:2"}


def test_localhost_is_allowed() -> None:
    scope = default_blocklist().scope([SourcedEntry("localhost", "argument 1")])
    assert scope.space.names["localhost"]
    assert all(address in scope for address in scope.space.names["localhost"])


def test_bad_targets_fail_before_anything_is_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(name: str, origin: str) -> list[str]:
        raise AssertionError("resolved before every entry was checked")

    monkeypatch.setattr(blocklist_module, "resolve_name", resolve)
    entries = [
        SourcedEntry("pacs.example", "argument 1"),
        SourcedEntry("10.0.0.0/33", "argument 2"),
    ]
    with pytest.raises(UsageError, match=r"argument 2: bad target '10\.0\.0\.0/33'"):
        default_blocklist().scope(entries)
    with pytest.raises(UsageError, match="host names are not allowed"):
        default_blocklist().scope([SourcedEntry("pacs.example", "a")], resolve=False)


def test_everywhere_scope_is_for_results_without_targets() -> None:
    scope = default_blocklist().everywhere()
    assert "8.8.8.8" in scope
    assert "2a00:1450::1" in scope
    for address in ("10.0.0.1", "127.0.0.1", "::1", "192.0.2.1", "fd00::1", "not an ip"):
        assert address not in scope
    assert 104 not in scope


def test_blocked_range_text() -> None:
    assert str(BlockedRange(4, v4("10.0.0.5"), v4("10.0.0.9"), "x", "f:1")) == "10.0.0.5-10.0.0.9"
    assert str(BlockedRange(4, v4("10.0.0.0"), v4("10.0.0.255"), "x", "f:1")) == "10.0.0.0/24"


# ---------------------------------------------------------------------------------------------
# Property: no excluded address is ever yielded, and nothing allowed is lost.
# ---------------------------------------------------------------------------------------------

# Anchors just below, at and inside blocks, so that random entries straddle their edges.
ANCHORS = [
    "9.255.255.240",
    "10.0.0.0",
    "10.255.255.250",
    "126.255.255.250",
    "127.0.0.0",
    "172.31.255.250",
    "192.0.1.250",
    "192.0.0.5",
    "192.168.255.240",
    "223.255.255.250",
    "8.8.8.0",
    "100.63.255.250",
]


@st.composite
def entries(draw: st.DrawFn) -> list[str]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        first = v4(draw(st.sampled_from(ANCHORS))) + draw(st.integers(0, 12))
        last = first + draw(st.integers(0, 24))
        out.append(f"{ipaddress.IPv4Address(first)}-{ipaddress.IPv4Address(last)}")
    return out


@st.composite
def exclusions(draw: st.DrawFn) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        first = v4(draw(st.sampled_from(ANCHORS))) + draw(st.integers(0, 30))
        out.append(f"{ipaddress.IPv4Address(first)}-{ipaddress.IPv4Address(first + 5)}")
    return out


def allowed_by_the_rule(address: int, texts: list[str], blocklist: Blocklist) -> bool:
    """The rule, written independently of the implementation: address by address."""
    ranges = [r for r in blocklist.ranges if r.family == 4 and r.first <= address <= r.last]
    if any(not r.local for r in ranges):
        return False
    spans = [(v4(t.split("-")[0]), v4(t.split("-")[1])) for t in texts]
    named = [(a, b) for a, b in spans if a <= address <= b]
    return all(any(r.first <= a and b <= r.last for a, b in named) for r in ranges)


@given(entries(), exclusions(), st.integers(0, 2**32), st.integers(1, 3))
@settings(max_examples=80, deadline=None)
def test_no_excluded_address_is_ever_yielded(
    texts: list[str], excluded: list[str], seed: int, shards: int
) -> None:
    blocklist = default_blocklist() | Blocklist.parse(excluded, "excludes")
    scope = scope_of(*texts, blocklist=blocklist)
    space = TargetSpace(scope.space, (104,))
    yielded = [
        v4(t.ip)
        for index in range(shards)
        for t in TargetWalk(space, seed=seed, shard=Shard(index, shards))
    ]
    assert len(yielded) == len(set(yielded))
    candidates = {n for t in texts for n in range(v4(t.split("-")[0]), v4(t.split("-")[1]) + 1)}
    assert set(yielded) == {n for n in candidates if allowed_by_the_rule(n, texts, blocklist)}
    assert scope.excluded == len(candidates) - len(yielded)
