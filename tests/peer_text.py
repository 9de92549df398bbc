"""Hostile peer text and the checks every output must pass, for ``test_peer_text_flow.py``.

:data:`HOSTILE` draws what an attacker-run server would send in any free-text field: terminal
escape sequences (clear screen, OSC 8 hyperlinks, OSC 52 clipboard writes, C1 CSI), rich
markup (``[link=…]``, a stray ``[/bold]``), bidirectional overrides and isolates, spreadsheet
formula prefixes, HTML and URLs, mixed with arbitrary text. :func:`check_sinks` pushes findings
through every sink — the terminal table, a log line, JSON Lines, the CSV, the HTML report,
Markdown notices and the diff — and asserts that none lets any of it act.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import strategies as st
from rich.console import Console

from pacsaudit.model import Finding, encode_finding
from pacsaudit.peertext import VisibleFormatter
from pacsaudit.report.build import write_diff, write_report
from pacsaudit.report.diff import render_text
from pacsaudit.report.notify import read_owner_map, write_notices
from pacsaudit.report.records import load_results
from pacsaudit.report.table import print_summary

PAYLOADS = (
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1b]8;;http://evil.example/\x07x\x1b]8;;\x07",
    "\x1b]52;c;ZWNobyBvd25lZA==\x07",  # OSC 52: write the clipboard
    "\x9b2J",  # C1 CSI
    "\x1bP+q\x1b\\",  # DCS
    "[link=http://evil.example/]x[/link]",
    "[/bold]",
    "[/]",
    "[bold red]",
    ":skull:",
    "\u202eevil\u202c",  # right-to-left override
    "\u2066x\u2069\u200b\ufeff",  # isolates, zero width space, BOM
    '=HYPERLINK("http://evil.example")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "http://evil.example/x",
    "www.evil.example",
    "\r\n",
    "\\x1b",
)

HOSTILE = st.lists(
    st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=12)), min_size=1, max_size=5
).map("".join)
"""Text with at least one piece of markup, control or script in most examples."""

_SGR = re.compile(r"\x1b\[[0-9;]*m")
"""The only escape sequences our own terminal output may hold: colours and bold."""
_SPACE = re.compile(r"\s+")


def strings_of(value: Any) -> Iterator[str]:
    """Every string (keys included) of a JSON-like value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_of(k)
            yield from strings_of(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings_of(v)


def assert_printable(text: str, where: str) -> None:
    """No control, format or bidi character: every line is printable text."""
    for line in text.split("\n"):
        assert line.isprintable(), f"{where}: {line!r}"


def is_subsequence(needle: str, haystack: str) -> bool:
    """``needle``'s characters appear in order in ``haystack`` (a table folds long cells
    across lines, between other columns, but never drops or reorders what it shows)."""
    it = iter(haystack)
    return all(ch in it for ch in needle)


def check_finding(finding: Finding) -> None:
    """The boundary rule: every string stored in a finding is printable."""
    for s in strings_of(msgspec.to_builtins(finding)):
        assert s.isprintable(), repr(s)
    line = encode_finding(finding)
    assert line.endswith(b"\n")
    line = line[:-1]
    assert not re.search(rb"[\x00-\x1f\x7f]", line), line
    assert not re.search(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\u00[89][0-9a-fA-F]", line), line


def check_terminal(findings: list[Finding], shown: Iterable[str]) -> None:
    """The table as a colour terminal gets it: only our SGR colours, no other escape, no
    hyperlink, and every peer value ``shown`` appears as the literal text it is."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=160)
    print_summary(findings, Counter(str(f.status) for f in findings), console, 1.0, len(findings))
    raw = out.getvalue()
    assert "\x1b]" not in raw  # no OSC at all: no hyperlink, no clipboard, no title
    plain = _SGR.sub("", raw)
    assert_printable(plain, "terminal")
    assert "could not be drawn" not in plain
    squeezed = _SPACE.sub("", plain)
    for value in shown:
        assert is_subsequence(_SPACE.sub("", value), squeezed), (value, plain)


def check_log(value: str) -> None:
    record = logging.LogRecord(
        "pacsaudit.test", logging.WARNING, __file__, 1, "peer %s", (value,), None
    )
    assert_printable(VisibleFormatter(logging.BASIC_FORMAT).format(record), "log")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name in ("href", "src", "action") and value:
                self.urls.append(value)


def html_tags(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def check_files(findings: list[Finding], baseline: list[Finding], folder: Path) -> None:
    """CSV, HTML report, Markdown notices and the diff made from ``findings`` (and from a
    benign ``baseline`` made in the same shape): no formula, no active HTML, no live link."""
    new = folder / "new.jsonl"
    old = folder / "old.jsonl"
    new.write_bytes(b"".join(encode_finding(f) for f in findings))
    old.write_bytes(b"".join(encode_finding(f) for f in baseline))
    write_report([new], folder / "report", baseline=[old])
    write_report([old], folder / "benign", baseline=[old])
    # CSV: no cell a spreadsheet runs, no control character
    with (folder / "report" / "findings.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for value in row:
                assert value[:1] not in ("=", "+", "-", "@"), row
                assert value.isprintable(), row
    # HTML: the same tags, attributes and links as a report of benign findings
    html = (folder / "report" / "report.html").read_text("utf-8")
    benign = html_tags((folder / "benign" / "report.html").read_text("utf-8"))
    got = html_tags(html)
    assert got.tags <= benign.tags, got.tags - benign.tags
    assert got.attributes <= benign.attributes, got.attributes - benign.attributes
    assert all(
        not u.lower().startswith(("javascript:", "http:", "https:", "data:")) for u in got.urls
    )
    assert_printable(html, "html")
    json.loads((folder / "report" / "summary.json").read_text("utf-8"))
    # Markdown notices: no autolink, no raw HTML, no mention, no control character
    owners = folder / "owners.csv"
    owners.write_text("cidr,owner,contact\n127.0.0.0/8,Loopback Hospital,security team\n")
    notices = write_notices(
        load_results([new]), read_owner_map(owners), folder / "notices", min_severity="info"
    )
    for path in notices.paths:
        text = path.read_text("utf-8")
        assert_printable(text, str(path))
        assert not re.search(r"(?i)\b(https?|ftp)://|\bwww\.", text), text
        assert not re.search(r"(?<!\\)[<>]", text), text
        assert not re.search(r"(?<!\\)@", text), text
    # the diff, as text and as JSON
    changes, _ = write_diff([old], [new], None)
    assert_printable(render_text(changes), "diff")
    for s in strings_of(msgspec.to_builtins(changes)):
        assert s.isprintable(), repr(s)
