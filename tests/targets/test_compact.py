"""Target files in compact form: packed sorting, intervals, result lists, memory, BOMs.

Addresses are from the documentation ranges (nothing here connects); the memory checks use
tracemalloc, so they measure what pacsaudit allocates, deterministically, not the process."""

from __future__ import annotations

import ipaddress
import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacsaudit.engine.sources import WalkSource
from pacsaudit.engine.state import ScanState, StateError
from pacsaudit.targets import collect
from pacsaudit.targets.blocklist import default_blocklist
from pacsaudit.targets.collect import IntervalCollector, SortedRuns
from pacsaudit.targets.compact import collect_targets, compact_targets
from pacsaudit.targets.permutation import Shard
from pacsaudit.targets.readers import InputFormat, OpenPort, ReadStats, parse_open_ports
from pacsaudit.targets.spec import IntervalSet, SourcedEntry, Target, read_entries
from pacsaudit.usage import UsageError

BASE = int(ipaddress.IPv4Address("198.51.100.0"))


def v4(n: int) -> str:
    return str(ipaddress.IPv4Address(n))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 7 numbers, so a few dozen values cross many chunk boundaries."""
    monkeypatch.setattr(collect, "CHUNK", 7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, (1 << 64) - 1), max_size=80))
def test_sorted_runs_give_each_number_once_in_order(numbers: list[int]) -> None:
    collect.CHUNK, saved = 7, collect.CHUNK
    try:
        runs = SortedRuns()
        for n in numbers:
            runs.add(n)
        assert list(runs.sorted_unique()) == sorted(set(numbers))
        assert runs.added == len(numbers)
    finally:
        collect.CHUNK = saved


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 20)), max_size=60))
def test_collected_intervals_equal_the_plain_interval_set(spans: list[tuple[int, int]]) -> None:
    intervals = [(BASE + lo, BASE + lo + length) for lo, length in spans]
    collect.CHUNK, saved = 7, collect.CHUNK
    try:
        collector = IntervalCollector(4)
        for first, last in intervals:
            collector.add(first, last)
        got = collector.result()
    finally:
        collect.CHUNK = saved
    want = IntervalSet(intervals)
    assert got.intervals == want.intervals
    assert got.size() == want.size()
    assert all((BASE + n in got) == (BASE + n in want) for n in range(-2, 330))


def test_ipv6_intervals_are_collected_too() -> None:
    collector = IntervalCollector(6)
    collector.add(1 << 100, (1 << 100) + 5)
    collector.add((1 << 100) + 3, (1 << 100) + 9)
    assert collector.result().intervals == [(1 << 100, (1 << 100) + 9)]


@pytest.mark.usefixtures("small_chunks")
def test_result_lists_are_sorted_deduplicated_and_indexable() -> None:
    rng = random.Random(5)
    pairs: list[tuple[str, int | None]] = []
    for _ in range(300):
        address = v4(BASE + rng.randrange(40))
        pairs.append((address, rng.choice([104, 11112, 4242, None])))
    pairs += [("2001:db8::7", 104), ("2001:db8::7", 104), ("2001:db8::1", None)]
    targets, duplicates = collect_targets(pairs, (104, 11112))
    want: set[tuple[int, int, str]] = set()
    for address, port in pairs:
        for p in (104, 11112) if port is None else (port,):
            ip = ipaddress.ip_address(address)
            want.add((ip.version, int(ip), str(p)))
    ordered = sorted(want, key=lambda w: (w[0], w[1], int(w[2])))
    expected = [Target(str(ipaddress.ip_address(n)), int(p)) for _, n, p in ordered]
    assert list(targets) == expected
    assert [targets[k] for k in range(len(targets))] == expected
    assert len(targets) == len(expected)
    assert duplicates == sum(1 if p else 2 for _, p in pairs) - len(expected)
    assert targets.ports == (104, 4242, 11112)
    assert targets.addresses == len({t.ip for t in expected})
    with pytest.raises(IndexError):
        targets[len(targets)]


def test_consecutive_addresses_on_the_same_ports_are_one_interval() -> None:
    pairs = [(v4(BASE + n), p) for n in range(1000) for p in (104, 11112)]
    targets, _ = collect_targets(reversed(pairs), ())
    assert len(targets) == 2000
    assert len(targets._firsts) == 1
    assert targets[1] == Target(v4(BASE), 11112)
    assert targets[1999] == Target(v4(BASE + 999), 11112)


def test_port_filter_drops_other_ports() -> None:
    targets, _ = collect_targets([("192.0.2.1", 104), ("192.0.2.1", 80)], (), port_filter={104})
    assert list(targets) == [Target("192.0.2.1", 104)]


def test_the_fingerprint_names_the_targets() -> None:
    one, _ = collect_targets([("192.0.2.1", 104), ("192.0.2.2", 104)], ())
    same, _ = collect_targets([("192.0.2.2", 104), ("192.0.2.1", 104), ("192.0.2.1", 104)], ())
    other, _ = collect_targets([("192.0.2.1", 104), ("192.0.2.3", 104)], ())
    ports, _ = collect_targets([("192.0.2.1", 104), ("192.0.2.2", 11112)], ())
    assert one.fingerprint == same.fingerprint
    assert len({one.fingerprint, other.fingerprint, ports.fingerprint}) == 3


def test_result_lists_are_walked_once_each_in_every_shard_split() -> None:
    pairs = [(v4(BASE + n), 104) for n in range(0, 500, 3)]
    targets, _ = collect_targets(pairs, ())
    seen: list[Target] = []
    for index in range(3):
        seen += [t for _, t in WalkSource(targets, seed=11, shard=Shard(index, 3))]
    assert sorted(seen, key=lambda t: ipaddress.ip_address(t.ip)) == list(targets)
    order = [t for _, t in WalkSource(targets, seed=11, shard=Shard())]
    assert order != list(targets)  # spread, not the numeric order
    assert order == [t for _, t in WalkSource(targets, seed=11, shard=Shard())]


def test_results_are_scoped_and_counted() -> None:
    scope = default_blocklist().scope([SourcedEntry("10.1.2.0/24", "argument 1")])
    stats = ReadStats("results")
    found = [OpenPort("10.1.2.1", 104), OpenPort("192.0.2.1", 104), OpenPort("10.1.2.1", 104)]
    targets = compact_targets(found, (104,), scope, stats=stats)
    assert list(targets) == [Target("10.1.2.1", 104)]
    assert (stats.out_of_scope, stats.duplicates) == (1, 1)


# --- memory: bytes per line, not kilobytes ------------------------------------------------


def _peak_bytes_per_line(build: object, lines: int) -> float:
    tracemalloc.start()
    try:
        result = build()  # type: ignore[operator]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result is not None
    return peak / lines


def test_a_plain_target_list_costs_a_few_bytes_per_line() -> None:
    """200,000 scattered addresses through the scope: the old entries list and list of tuples
    took about 600 bytes a line (its result list 220); packed, under 64 (most of it the
    bounded chunk being sorted)."""
    lines = 200_000

    def entries() -> object:
        gen = (f"10.{(n * 7919) >> 16 & 255}.{(n * 7919) >> 8 & 255}.{n & 255}\n"
               for n in range(lines))  # fmt: skip
        return default_blocklist().scope(read_entries(gen, "targets.txt"))

    assert _peak_bytes_per_line(entries, lines) < 64


def test_a_result_list_costs_a_few_bytes_per_line() -> None:
    lines = 200_000
    scope = default_blocklist().scope([SourcedEntry("10.0.0.0/8", "argument 1")])

    def results() -> object:
        found = (OpenPort(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 104)
                 for n in range(0, lines * 3, 3))  # fmt: skip
        return compact_targets(found, (104,), scope)

    assert _peak_bytes_per_line(results, lines) < 64


# --- byte order marks and errors ----------------------------------------------------------


def test_a_zmap_file_starting_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "zmap.txt"
    path.write_bytes(b"\xef\xbb\xbf192.0.2.10\n192.0.2.11\n")
    from pacsaudit.targets.readers import read_open_ports

    stats = ReadStats(str(path))
    assert [r.ip for r in read_open_ports(path, InputFormat.ZMAP, stats=stats)] == [
        "192.0.2.10",
        "192.0.2.11",
    ]
    assert stats.variant == "zmap-plain"
    csv = "\ufeffsaddr,sport\n192.0.2.10,104\n"
    assert list(parse_open_ports(csv.splitlines(keepends=True), "z.csv")) == [
        OpenPort("192.0.2.10", 104)
    ]


def test_a_target_list_starting_with_a_bom_is_read() -> None:
    entries = list(read_entries(["\ufeff192.0.2.10, 192.0.2.11\n"], "t.txt"))
    assert [e.text for e in entries] == ["192.0.2.10", "192.0.2.11"]


def test_a_bad_line_deep_in_a_streamed_file_is_named(tmp_path: Path) -> None:
    from pacsaudit.plan import iter_target_file

    path = tmp_path / "targets.txt"
    path.write_text("192.0.2.1\n192.0.2.2\n192.0.2.999\n", encoding="ascii")
    with pytest.raises(UsageError, match=rf"{path}:3: bad target '192.0.2.999'"):
        default_blocklist().scope(iter_target_file(str(path)))


def test_an_older_result_state_is_refused_clearly(tmp_path: Path) -> None:
    """States from before the packed lists positioned results in file order."""
    from pacsaudit.engine.options import EngineOptions
    from pacsaudit.plan import ScaleOptions, make_plan
    from pacsaudit.probes.dicom.options import DicomOptions

    results = tmp_path / "zmap.txt"
    results.write_text("10.1.2.1\n", encoding="ascii")
    state = tmp_path / "s.state"
    meta = {"fingerprint": "x", "seed": "1", "shard": "0/1", "input": "results"}
    ScanState.create(state, meta).close()
    scale = ScaleOptions(state=state, resume=True, input_format=InputFormat.ZMAP)
    with pytest.raises(StateError, match=r"older pacsaudit .* file order"):
        make_plan(
            targets=["10.1.2.0/24"],
            input_files=[str(results)],
            exclude_files=[],
            ports=(104,),
            engine=EngineOptions(),
            dicom=DicomOptions(),
            output=tmp_path / "out.jsonl",
            scale=scale,
        )
