"""A sign of compromise is a service-level finding of its own in the reports."""

from __future__ import annotations

from pathlib import Path

from pacsaudit.model import (
    CompromiseResult,
    ExposureClass,
    FileShareResult,
    Finding,
    IndicatorHit,
    Severity,
    Status,
    encode_finding,
)
from pacsaudit.probes.registry import with_compromise_findings
from pacsaudit.report.records import load_results

HIT = IndicatorHit(
    indicator="miner-config",
    category="miner-config",
    description="a crypto-miner configuration",
    source="public report",
    share="images",
)


def test_the_share_and_its_compromise_are_two_services(tmp_path: Path) -> None:
    share = Finding(
        ip="198.51.100.7",
        port=21,
        protocol="ftp",
        status=Status.FTP,
        timestamp="2026-11-26T10:00:00.000Z",
        result=FileShareResult(
            anonymous=True,
            indicators=[HIT],
            exposure_class=ExposureClass.ANONYMOUS_ACCESS,
            severity=Severity.MEDIUM,
        ),
    )
    findings = with_compromise_findings([share])
    assert len(findings) == 2
    assert isinstance(findings[1].result, CompromiseResult)
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(encode_finding(f) for f in findings))
    services = {s.protocol: s for s in load_results([path]).services}
    assert set(services) == {"ftp", "compromise"}
    assert services["ftp"].severity == "medium"
    assert services["compromise"].severity == "critical"


def test_no_indicator_no_extra_finding() -> None:
    share = Finding(
        ip="198.51.100.8",
        port=21,
        protocol="ftp",
        status=Status.FTP,
        timestamp="2026-11-26T10:00:00.000Z",
        result=FileShareResult(anonymous=True),
    )
    assert with_compromise_findings([share]) == [share]
