"""Readers of ZMap and masscan result files.

The fixtures are written by hand in the formats the scanners' sources print (masscan's
``src/out-text.c``, ``out-json.c`` across its history and ``out-ndjson.c``; ZMap's
``module_csv.c`` and its default ``saddr`` / ``saddr,sport`` output). Addresses are from the
documentation ranges. The scanners themselves write files in ``test_scanners_netns.py``,
inside sealed network namespaces (they send raw frames).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacsaudit.targets.blocklist import default_blocklist
from pacsaudit.targets.readers import (
    MAX_LINE_CHARS,
    InputFormat,
    OpenPort,
    ReadStats,
    ResultsError,
    parse_open_ports,
    read_open_ports,
    targets_from_results,
)
from pacsaudit.targets.spec import SourcedEntry, Target
from pacsaudit.usage import UsageError

# `zmap -p 104 -o results.txt`: the default output, saddr only, no header.
ZMAP_PLAIN = "192.0.2.10\n192.0.2.11\n198.51.100.7\n"
# `zmap -p 104,11112 -o results.txt`: with several ports the default becomes saddr,sport.
ZMAP_MULTIPORT = "192.0.2.10,104\n192.0.2.10,11112\n198.51.100.7,11112\n"
# `zmap -O csv -f saddr,sport,classification,success,repeat`: header row, every response kept
# (no --output-filter), so RSTs appear with success 0.
ZMAP_CSV = (
    "saddr,sport,classification,success,repeat\n"
    "192.0.2.10,104,synack,1,0\n"
    "192.0.2.12,104,rst,0,0\n"
    "198.51.100.7,104,synack,1,0\n"
)
# `zmap -O json`: one object per line.
ZMAP_JSON = (
    '{"saddr": "192.0.2.10", "sport": 104, "classification": "synack", "success": true}\n'
    '{"saddr": "192.0.2.12", "sport": 104, "classification": "rst", "success": false}\n'
)
# `masscan -p104 -oL`: header, "<status> <proto> <port> <ip> <timestamp>", trailer.
MASSCAN_LIST = (
    "#masscan\n"
    "open tcp 104 192.0.2.10 1700000000\n"
    "open tcp 11112 192.0.2.10 1700000001\n"
    "closed tcp 104 192.0.2.12 1700000002\n"
    "open udp 161 192.0.2.13 1700000003\n"
    "banner tcp 104 192.0.2.10 1700000004 unknown \\x01\\x00\n"
    "open tcp 104 2001:db8::7 1700000005\n"
    "# end\n"
)
# `masscan -oJ` since 2018 (9e188a7): "[", records joined by ",\n", "]".
MASSCAN_JSON = (
    "[\n"
    '{   "ip": "192.0.2.10",   "timestamp": "1700000000", "ports": [ {"port": 104, '
    '"proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 54} ] }\n'
    ",\n"
    '{   "ip": "192.0.2.10",   "timestamp": "1700000001", "ports": [ {"port": 104, '
    '"proto": "tcp", "service": {"name": "unknown", "banner": "\\u0001"} } ] }\n'
    ",\n"
    '{   "ip": "198.51.100.7",   "timestamp": "1700000002", "ports": [ {"port": 11112, '
    '"proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 60} ] }\n'
    "]\n"
)
# 2017-2018 (985b576): inside [ ] but every record still ends with a comma, the last one too.
MASSCAN_JSON_2017 = (
    "[\n"
    '{   "ip": "192.0.2.10",   "timestamp": "1700000000", "ports": [ {"port": 104, '
    '"proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 54} ] },\n'
    '{   "ip": "198.51.100.7",   "timestamp": "1700000002", "ports": [ {"port": 11112, '
    '"proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 60} ] },\n'
    "]\n"
)
# 2014-2017 (34e4360): no brackets, trailing commas, a bare-key "{finished: 1}" last line.
MASSCAN_JSON_2014 = (
    '{   "ip": "192.0.2.10",   "ports": [ {"port": 104, "proto": "tcp", "status": "open", '
    '"reason": "syn-ack", "ttl": 54} ] },\n'
    '{   "ip": "198.51.100.7",   "ports": [ {"port": 11112, "proto": "tcp", "status": "open", '
    '"reason": "syn-ack", "ttl": 60} ] },\n'
    "{finished: 1}\n"
)
# Before 2014: the same with bare keys.
MASSCAN_JSON_2013 = (
    '{ ip: "192.0.2.10", ports: [ {port: 104, proto: "tcp", status: "open", reason: "syn-ack", '
    "ttl: 54} ] },\n"
    '{ ip: "198.51.100.7", ports: [ {port: 11112, proto: "tcp", status: "open", '
    'reason: "syn-ack", ttl: 60} ] },\n'
    "{finished: 1}\n"
)
# `masscan -oD`: one object per port, status under "data".
MASSCAN_NDJSON = (
    '{"ip":"192.0.2.10","timestamp":"1700000000","port":104,"proto":"tcp","rec_type":"status",'
    '"data":{"status":"open","reason":"syn-ack","ttl":54}}\n'
    '{"ip":"192.0.2.10","timestamp":"1700000001","port":104,"proto":"tcp","rec_type":"banner",'
    '"data":{"service_name":"unknown","banner":"x"}}\n'
    '{"ip":"198.51.100.7","timestamp":"1700000002","port":11112,"proto":"tcp",'
    '"rec_type":"status","data":{"status":"open","reason":"syn-ack","ttl":60}}\n'
)
TWO = [OpenPort("192.0.2.10", 104), OpenPort("198.51.100.7", 11112)]


def read(text: str, fmt: str = "auto", *, strict: bool = True) -> tuple[list[OpenPort], ReadStats]:
    stats = ReadStats("results.txt")
    found = list(
        parse_open_ports(io.StringIO(text), "results.txt", fmt, strict=strict, stats=stats)
    )
    return found, stats


# ---------------------------------------------------------------------------------------------
# Each format.
# ---------------------------------------------------------------------------------------------


def test_zmap_plain_has_no_port() -> None:
    found, stats = read(ZMAP_PLAIN)
    assert found == [
        OpenPort("192.0.2.10", None),
        OpenPort("192.0.2.11", None),
        OpenPort("198.51.100.7", None),
    ]
    assert stats.variant == "zmap-plain"
    assert not stats.truncated


def test_zmap_multiport_default_output() -> None:
    found, stats = read(ZMAP_MULTIPORT, "zmap")
    assert found == [
        OpenPort("192.0.2.10", 104),
        OpenPort("192.0.2.10", 11112),
        OpenPort("198.51.100.7", 11112),
    ]
    assert stats.variant == "zmap-plain"


def test_zmap_csv_keeps_successful_rows_only() -> None:
    found, stats = read(ZMAP_CSV)
    assert found == [OpenPort("192.0.2.10", 104), OpenPort("198.51.100.7", 104)]
    assert stats.variant == "zmap-csv"
    assert stats.not_open == 1


def test_zmap_csv_columns_in_any_order_and_quoted() -> None:
    text = 'timestamp_str,sport,saddr\n"2024-01-01T00:00:00,123",104,192.0.2.10\n'
    found, _ = read(text)
    assert found == [OpenPort("192.0.2.10", 104)]
    found, _ = read("saddr\n192.0.2.10\n")
    assert found == [OpenPort("192.0.2.10", None)]


def test_zmap_json() -> None:
    found, stats = read(ZMAP_JSON)
    assert found == [OpenPort("192.0.2.10", 104)]
    assert stats.variant == "zmap-json"
    assert stats.not_open == 1


def test_masscan_list() -> None:
    found, stats = read(MASSCAN_LIST, "masscan")
    assert found == [
        OpenPort("192.0.2.10", 104),
        OpenPort("192.0.2.10", 11112),
        OpenPort("2001:db8::7", 104),
    ]
    assert stats.variant == "masscan-list"
    assert (stats.not_open, stats.other, stats.truncated) == (1, 2, False)


@pytest.mark.parametrize(
    "text",
    [MASSCAN_JSON, MASSCAN_JSON_2017, MASSCAN_JSON_2014, MASSCAN_JSON_2013],
    ids=["2018+", "2017", "2014", "2013"],
)
def test_masscan_json_every_generation(text: str) -> None:
    found, stats = read(text)
    assert found == TWO
    assert stats.variant == "masscan-json"
    assert not stats.truncated
    assert stats.malformed == 0


def test_masscan_json_reformatted_by_a_tool() -> None:
    """Pretty-printed (jq .) or minified on one line: still read."""
    pretty = (
        '[\n  {\n    "ip": "192.0.2.10",\n    "ports": [\n      {\n        "port": 104,\n'
        '        "proto": "tcp",\n        "status": "open"\n      }\n    ]\n  }\n]\n'
    )
    assert read(pretty)[0] == [OpenPort("192.0.2.10", 104)]
    one_line = (
        '[{"ip":"192.0.2.10","ports":[{"port":104,"proto":"tcp","status":"open"}]},'
        '{"ip":"198.51.100.7","ports":[{"port":11112,"proto":"tcp","status":"open"}]}]\n'
    )
    assert read(one_line)[0] == TWO


def test_masscan_ndjson() -> None:
    found, stats = read(MASSCAN_NDJSON)
    assert found == TWO
    assert stats.other == 1
    assert not stats.truncated


def test_addresses_are_canonical() -> None:
    found, _ = read("#masscan\nopen tcp 104 2001:DB8:0:0::7 1\n# end\n")
    assert found == [OpenPort("2001:db8::7", 104)]


def test_empty_files() -> None:
    for text in ("", "\n\n"):
        found, stats = read(text)
        assert found == []
        assert stats.variant == "empty"
    found, stats = read("#masscan\n# end\n")
    assert found == []
    assert not stats.truncated
    found, stats = read("[\n]\n")
    assert found == []
    assert not stats.truncated


# ---------------------------------------------------------------------------------------------
# Detection and refusals.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        (MASSCAN_LIST, "zmap", "looks like masscan output"),
        (ZMAP_CSV, "masscan", "looks like zmap output"),
        ("masscan/1.1\x00\x00\n", "auto", "binary"),
        ("ip,port\n192.0.2.1,104\n", "auto", "saddr"),
        ("192.0.2.1,104,extra\n", "zmap", "header"),
    ],
)
def test_files_of_the_wrong_kind_are_refused(text: str, fmt: str, message: str) -> None:
    with pytest.raises(ResultsError, match=message) as caught:
        read(text, fmt)
    assert str(caught.value).startswith("results.txt:1: ")


def test_bad_format_name() -> None:
    with pytest.raises(UsageError, match="use zmap, masscan, nmap or auto"):
        read(ZMAP_PLAIN, "nessus")
    assert InputFormat("auto") is InputFormat.AUTO


# ---------------------------------------------------------------------------------------------
# Malformed lines and truncated files.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("192.0.2.1\n192.0.2.300\n192.0.2.3\n", 2, "not an IP address"),
        ("192.0.2.1,104\n192.0.2.2,70000\n", 2, "not a port"),
        ("192.0.2.1,104\n192.0.2.2\n", 2, "expected 2 column"),
        ("#masscan\nopen tcp 104 192.0.2.1 1\nopen tcp 104\n# end\n", 3, "expected"),
        ("#masscan\nopen tcp 0 192.0.2.1 1\n# end\n", 2, "bad address, port"),
        ('[\n{"ip": "192.0.2.1", "ports": 5}\n]\n', 2, "ports is not a list"),
        ('[\n{"ip": "nope", "ports": []}\n]\n', 2, "no valid ip"),
        ("[\nhello\n]\n", 2, "expected a JSON object"),
        ('{"saddr": "192.0.2.1", "sport": "x"}\n', 1, "sport is not a port"),
    ],
)
def test_malformed_lines_name_file_and_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(ResultsError, match=f"^results.txt:{line}: {reason}"):
        read(text)
    _, stats = read(text, strict=False)
    assert stats.malformed == 1
    assert stats.problems[0].startswith(f"results.txt:{line}: ")
    assert any("malformed" in w for w in stats.warnings())


def test_skipping_keeps_the_good_lines_and_bounds_the_examples() -> None:
    text = "192.0.2.1\n" + "bad\n" * 20 + "192.0.2.2\n"
    found, stats = read(text, strict=False)
    assert found == [OpenPort("192.0.2.1", None), OpenPort("192.0.2.2", None)]
    assert stats.malformed == 20
    assert len(stats.problems) == 5


@pytest.mark.parametrize(
    "text",
    [
        "#masscan\nopen tcp 104 192.0.2.10 1700000000\nopen tcp 104 192.0",
        "#masscan\nopen tcp 104 192.0.2.10 1700000000\n",  # no "# end": masscan was stopped
        '[\n{"ip": "192.0.2.10", "ports": [{"port": 104, "proto": "tcp", "status": "open"}]}\n,'
        '\n{"ip": "198.51.10',
        '[\n{"ip": "192.0.2.10", "ports": [{"port": 104, "proto": "tcp", "status": "open"}]}\n',
        '{"ip": "192.0.2.10", "ports": [{"port": 104, "proto": "tcp", "status": "open"}]},\n',
    ],
)
def test_truncated_files_keep_what_is_complete(text: str) -> None:
    found, stats = read(text)
    assert found == [OpenPort("192.0.2.10", 104)]
    assert stats.truncated
    assert any("ends early" in w for w in stats.warnings())


def test_an_unterminated_last_line_is_used_with_a_warning() -> None:
    found, stats = read("192.0.2.10\n192.0.2.1")
    assert found[-1] == OpenPort("192.0.2.1", None)
    assert stats.unterminated
    assert any("no newline" in w for w in stats.warnings())
    _, stats = read(ZMAP_PLAIN)
    assert not stats.unterminated


def _every_cut(text: str) -> list[str]:
    return [text[:n] for n in range(len(text) + 1)]


@pytest.mark.parametrize(
    "full",
    [ZMAP_PLAIN, ZMAP_MULTIPORT, ZMAP_CSV, ZMAP_JSON, MASSCAN_LIST, MASSCAN_JSON,
     MASSCAN_JSON_2017, MASSCAN_JSON_2014, MASSCAN_JSON_2013, MASSCAN_NDJSON],
)  # fmt: skip
def test_a_file_cut_at_any_character_never_raises(full: str) -> None:
    """A scanner killed mid-write leaves any prefix of its file: reading one never fails and
    yields a prefix of the full result (the last line, if it has no newline, may be cut)."""
    complete, _ = read(full)
    for cut in _every_cut(full):
        found, stats = read(cut)
        settled = found if cut.endswith("\n") or not found else found[:-1]
        assert settled == complete[: len(settled)], repr(cut)
        if found and found[-1] not in complete:
            assert stats.unterminated, repr(cut)


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_raises_only_results_errors(text: str) -> None:
    for fmt in ("auto", "zmap", "masscan"):
        try:
            found, _ = read(text, fmt, strict=False)
        except ResultsError:
            continue
        assert all(1 <= (r.port or 1) <= 65535 for r in found)


def test_broken_csv_quoting_is_a_malformed_line() -> None:
    text = '127.0.0.1,104\n0"\r0,104\n127.0.0.2,104\n'
    found, stats = read(text, "zmap", strict=False)
    assert [r.ip for r in found] == ["127.0.0.1", "127.0.0.2"]
    assert stats.malformed == 1
    with pytest.raises(ResultsError, match=r"results\.txt:2: broken CSV quoting"):
        read(text, "zmap")


# ---------------------------------------------------------------------------------------------
# Files on disk.
# ---------------------------------------------------------------------------------------------


def test_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "masscan.json"
    path.write_text(MASSCAN_JSON)
    stats = ReadStats(str(path))
    assert list(read_open_ports(path, stats=stats)) == TWO
    assert stats.records == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="cannot read result file"):
        list(read_open_ports(tmp_path / "absent.txt"))


def test_undecodable_bytes_and_overlong_lines(tmp_path: Path) -> None:
    path = tmp_path / "zmap.txt"
    path.write_bytes(b"192.0.2.1\n\xff\xfe\n" + b"9" * (3 * MAX_LINE_CHARS) + b"\n192.0.2.2\n")
    with pytest.raises(ResultsError, match=r"zmap\.txt:2: not an IP address"):
        list(read_open_ports(path))
    stats = ReadStats(str(path))
    found = list(read_open_ports(path, strict=False, stats=stats))
    assert found == [OpenPort("192.0.2.1", None), OpenPort("192.0.2.2", None)]
    assert stats.malformed == 2
    assert "line too long" in stats.problems[1]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(ZMAP_MULTIPORT))
    assert len(list(read_open_ports("-"))) == 3


# ---------------------------------------------------------------------------------------------
# From results to targets: scope, ports, duplicates.
# ---------------------------------------------------------------------------------------------


def test_targets_from_results_apply_scope_ports_and_dedupe() -> None:
    results = [
        OpenPort("203.0.113.5", None),  # documentation: blocked even though the file says open
        OpenPort("10.1.2.3", 104),  # private: only if the user named it
        OpenPort("8.8.4.4", None),
        OpenPort("8.8.4.4", 104),  # duplicate of the port given to the portless record
        OpenPort("8.8.8.8", 80),  # a port the user did not ask for
        OpenPort("8.8.8.8", 11112),
    ]
    stats = ReadStats("results.txt")
    wide = default_blocklist().everywhere()
    targets = list(
        targets_from_results(results, (104, 4242), wide, port_filter={104, 11112}, stats=stats)
    )
    assert targets == [Target("8.8.4.4", 104), Target("8.8.4.4", 4242), Target("8.8.8.8", 11112)]
    assert stats.out_of_scope == 2
    assert stats.duplicates == 1


def test_results_inside_named_targets_only() -> None:
    scope = default_blocklist().scope([SourcedEntry("10.1.0.0/16", "argument 1")], resolve=False)
    results = [OpenPort("10.1.2.3", 104), OpenPort("10.2.0.1", 104), OpenPort("8.8.8.8", 104)]
    stats = ReadStats("r")
    assert list(targets_from_results(results, (104,), scope, stats=stats)) == [
        Target("10.1.2.3", 104)
    ]
    assert stats.out_of_scope == 2
    assert any("outside the targets" in w for w in stats.warnings())


@pytest.mark.parametrize("text", ["this is not a zmap file", "Hello, world! <html>"])
def test_a_lone_unterminated_line_of_prose_is_not_taken_for_a_cut_file(text: str) -> None:
    """Only what a scanner could have started writing counts as a cut file; prose without a
    newline is named as the wrong kind of file, not silently read as empty."""
    with pytest.raises(ResultsError, match=r"results\.txt:1"):
        read(text, "zmap")
