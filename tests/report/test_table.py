"""The end-of-scan terminal table: one row per service, compromise rows that stand out."""

from __future__ import annotations

from collections import Counter

from rich.console import Console

from pacsaudit.measure.classify import with_compromise_findings
from pacsaudit.model import (
    DicomResult,
    ErrorInfo,
    ErrorKind,
    ExposureClass,
    FileShareResult,
    Finding,
    IndicatorHit,
    Severity,
    Status,
)
from pacsaudit.report.table import findings_table, identification_rows

WHEN = "2026-11-26T10:00:00.000Z"


def _sniff(port: int) -> Finding:
    return Finding(
        ip="127.0.0.1",
        port=port,
        protocol="dicom",
        status=Status.OPEN_NOT_DICOM,
        timestamp=WHEN,
        result=DicomResult(banner="220 lab FTP ready."),
    )


def _ftp(port: int, indicators: list[IndicatorHit] | None = None) -> Finding:
    return Finding(
        ip="127.0.0.1",
        port=port,
        protocol="ftp",
        status=Status.FTP,
        timestamp=WHEN,
        result=FileShareResult(
            anonymous=True,
            server="220 lab FTP ready.",
            login="anonymous",
            files=12,
            dicom_files=9,
            indicators=indicators or [],
            exposure_class=ExposureClass.PHI_READABLE,
            severity=Severity.CRITICAL,
        ),
    )


def _render(findings: list[Finding]) -> str:
    counts = Counter(str(f.status) for f in findings)
    console = Console(record=True, width=240, color_system=None)
    console.print(findings_table(findings, counts))
    return console.export_text()


def test_sniff_record_folded_where_another_probe_found_the_service() -> None:
    findings = [_sniff(2121), _ftp(2121), _sniff(8000)]
    assert identification_rows(findings) == {0}
    text = _render(findings)
    rows = [line for line in text.splitlines() if "127.0.0.1:" in line]
    assert len(rows) == 2  # the FTP service and the unidentified port 8000
    assert any("127.0.0.1:2121" in r and " ftp " in r for r in rows)
    assert any("127.0.0.1:8000" in r and "open-not-dicom" in r for r in rows)
    assert "1 identification records not shown" in text


def test_silent_error_folded_only_when_a_follower_answered() -> None:
    reset = Finding(
        ip="127.0.0.1",
        port=4445,
        protocol="dicom",
        status=Status.ERROR,
        timestamp=WHEN,
        error=ErrorInfo(ErrorKind.RESET, "connection reset"),
    )
    assert identification_rows([reset]) == set()
    assert "127.0.0.1:4445" in _render([reset])


def test_compromise_row_carries_its_severity_and_category() -> None:
    hit = IndicatorHit(
        indicator="ransom-note",
        category="ransom-note",
        description="a ransom note",
        source="public report",
        share="/",
    )
    findings = with_compromise_findings([_ftp(21, [hit])])
    text = _render(findings)
    row = next(line for line in text.splitlines() if "compromise" in line)
    assert "ransom-note" in row
    assert "critical" in row
    assert "a ransom note" in row
