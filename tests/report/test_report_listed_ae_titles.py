"""AE titles a web API listed (``HttpResult.ae_titles``) in findings.csv and report.html.

The probe keeps only titles of a narrow alphabet, but the reports read JSON Lines that an older
pacsaudit, another tool or a hand may have written: here the findings are written as JSON by
hand, with titles no probe would keep (markup, control characters, formula prefixes), and the
reports must show each as the literal text it is — escaped in HTML, printable, never a formula
in a spreadsheet.
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import msgspec

from pacsaudit.model import AeTitleList, ExposureClass, Finding, HttpResult, Severity, Status
from pacsaudit.report.build import write_report
from pacsaudit.report.records import load_results
from pacsaudit.report.service import MAX_LISTED_AE_TITLES, Service

TS = "2026-12-02T10:00:00Z"


def http_finding(ip: str, listings: list[dict[str, Any]]) -> dict[str, Any]:
    result = HttpResult(
        status_code=200,
        exposure_class=ExposureClass.ANONYMOUS_ACCESS,
        severity=Severity.MEDIUM,
    )
    f = Finding(ip=ip, port=8080, protocol="http", status=Status.HTTP, timestamp=TS, result=result)
    out: dict[str, Any] = msgspec.to_builtins(f)
    out["result"]["ae_titles"] = listings
    return out


def listing(titles: list[Any], **kw: Any) -> dict[str, Any]:
    return {"product": "dcm4chee-arc", "path": "/dcm4chee-arc/aets", "titles": titles, **kw}


def services(tmp_path: Path, findings: list[dict[str, Any]]) -> list[Service]:
    path = tmp_path / "f.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in findings), "utf-8")
    return load_results([path]).services


def test_titles_read_back_in_order_once_each_with_what_was_not_shown(tmp_path: Path) -> None:
    model = AeTitleList(
        product="dcm4chee-arc",
        path="/dcm4chee-arc/aets",
        titles=["DCM4CHEE", "IOCM_REGULAR_USE"],
        listed=6,
        unprintable=3,
    )
    listings = [
        msgspec.to_builtins(model),
        listing(["DCM4CHEE", "MY AE", 7, "  "], truncated=True),  # as an old file might hold
    ]
    [s] = services(tmp_path, [http_finding("127.0.0.10", listings)])
    assert s.listed_ae_titles == ("DCM4CHEE", "IOCM_REGULAR_USE", "MY AE")
    assert s.listed_ae_titles_withheld == 3 + 2
    assert s.listed_ae_titles_cut
    assert s.listed_ae_label == "DCM4CHEE; IOCM_REGULAR_USE; MY AE (+5 and more not shown)"


def test_titles_bounded_when_read_back(tmp_path: Path) -> None:
    many = [f"AE{n:05d}" for n in range(10_000)]
    listings = [listing(many), "not a listing", listing("not a list"), {"titles": None}]
    [s] = services(tmp_path, [http_finding("127.0.0.11", listings)])
    assert s.listed_ae_titles == tuple(many[:MAX_LISTED_AE_TITLES])
    assert (s.listed_ae_titles_withheld, s.listed_ae_titles_cut) == (0, True)
    assert s.listed_ae_label.endswith("AE00031 (more not shown)")
    [long] = services(tmp_path, [http_finding("127.0.0.12", [listing(["A" * 100])])])
    assert long.listed_ae_titles == ("A" * 16,)  # PS3.5: an AE title has at most 16 characters


def test_no_listing_no_cell(tmp_path: Path) -> None:
    [s] = services(tmp_path, [http_finding("127.0.0.13", [])])
    assert s.listed_ae_titles == ()
    assert s.listed_ae_label == ""
    [only_withheld] = services(tmp_path, [http_finding("127.0.0.14", [listing([], unprintable=2)])])
    assert only_withheld.listed_ae_label == "(+2 not shown)"


HOSTILE_TITLES = {
    "127.0.0.20": '=HYPERLINK("x")',
    "127.0.0.21": "+1+cmd|'/C calc'",
    "127.0.0.22": "-A1",  # the narrow alphabet keeps this one: "-" is a valid first character
    "127.0.0.23": "@SUM(1+1)",
    "127.0.0.24": "\tTAB",  # blanks around a title are not part of it (PS3.5)
    "127.0.0.25": "<script>x</script>",
    "127.0.0.26": "\x1b[2J\x1b]8;;x\x07",
    "127.0.0.27": "\u202eCIMOD",
    "127.0.0.28": '"><img src=x>',
}


class _Cells(HTMLParser):
    """The findings table's cells as text, and every tag the page holds."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._in_body and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def test_hostile_titles_are_data_in_the_csv_and_the_html(tmp_path: Path) -> None:
    findings = [
        http_finding(ip, [listing([title, "SECOND"])]) for ip, title in HOSTILE_TITLES.items()
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in findings), "utf-8")
    out = tmp_path / "out"
    write_report([path], out)

    with (out / "findings.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cells = {r["ip"]: r["listed_ae_titles"] for r in rows}
    assert cells["127.0.0.20"] == '\'=HYPERLINK("x"); SECOND'
    assert cells["127.0.0.21"] == "'+1+cmd|'/C calc'; SECOND"
    assert cells["127.0.0.22"] == "'-A1; SECOND"
    assert cells["127.0.0.23"] == "'@SUM(1+1); SECOND"
    assert cells["127.0.0.24"] == "TAB; SECOND"
    assert cells["127.0.0.25"] == "<script>x</scrip; SECOND"  # 16 characters; not markup in a CSV
    assert cells["127.0.0.26"] == "\\x1b[2J\\x1b]8;;x\\x07; SECOND"
    assert cells["127.0.0.27"] == "\\u202eCIMOD; SECOND"
    for value in cells.values():
        assert value.isprintable()
        assert value[:1] not in ("=", "+", "-", "@", "\t", "\r")

    html = (out / "report.html").read_text("utf-8")
    assert all(line.isprintable() for line in html.split("\n"))
    assert "<script>x" not in html
    assert "<img src=x>" not in html
    parsed = _Cells()
    parsed.feed(html)
    assert "img" not in parsed.tags
    assert parsed.tags.count("script") == html.count("<script")  # the page's own script only
    ae_column = 6
    shown = {r[1].split()[0]: r[ae_column].strip() for r in parsed.rows}
    for ip, title in HOSTILE_TITLES.items():
        literal = title.strip()[:16].replace("\x1b", "\\x1b").replace("\x07", "\\x07")
        literal = literal.replace("\u202e", "\\u202e")
        assert shown[f"{ip}:8080"] == f"listed: {literal}; SECOND", ip
