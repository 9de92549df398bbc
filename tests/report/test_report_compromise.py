"""A sign of compromise is a service-level finding of its own in the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from pacsaudit.measure.classify import with_compromise_findings
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
from pacsaudit.report.html import render_report
from pacsaudit.report.notify import read_owner_map, write_notices
from pacsaudit.report.records import Loaded, load_results
from pacsaudit.report.remedy import advice_for
from pacsaudit.report.spreadsheet import COLUMNS, row
from pacsaudit.report.summary import anonymise, summarise

HIT = IndicatorHit(
    indicator="miner-config",
    category="miner-config",
    description="a crypto-miner configuration",
    source="public report",
    share="images",
)


def _share(
    ip: str,
    *,
    port: int = 21,
    protocol: str = "ftp",
    status: Status = Status.FTP,
    **result: Any,
) -> Finding:
    """An anonymous share's finding; ``result`` overrides its FileShareResult fields."""
    fields: dict[str, Any] = {
        "anonymous": True,
        "exposure_class": ExposureClass.ANONYMOUS_ACCESS,
        "severity": Severity.MEDIUM,
        **result,
    }
    return Finding(
        ip=ip,
        port=port,
        protocol=protocol,
        status=status,
        timestamp="2026-11-26T10:00:00.000Z",
        result=FileShareResult(**fields),
    )


def test_the_share_and_its_compromise_are_two_services(tmp_path: Path) -> None:
    share = _share("198.51.100.7", indicators=[HIT])
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


def _shares_with(hits: list[IndicatorHit], n: int, first: int = 10) -> list[Finding]:
    shares = [_share(f"198.51.100.{first + i}", indicators=hits) for i in range(n)]
    return with_compromise_findings(shares)


def _load(tmp_path: Path, findings: list[Finding]) -> Loaded:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(encode_finding(f) for f in findings))
    return load_results([path])


def test_compromise_is_reported_apart_from_the_service_statistics(tmp_path: Path) -> None:
    ransom = msgspec.structs.replace(HIT, indicator="ransom-note", category="ransom-note")
    clean = _shares_with([], 1, first=50)[0]
    loaded = _load(tmp_path, [*_shares_with([HIT, ransom], 2), clean])
    summary = summarise(loaded)
    # two shares with indicators, one without: three services, no compromise among them
    assert summary.totals.services == 3
    assert "compromised" not in summary.by_exposure_class
    assert set(summary.by_protocol) == {"ftp"}
    assert summary.compromise.hosts == 2
    assert summary.compromise.by_category == {"miner-config": 2, "ransom-note": 2}
    # the compromise finding's only advice is incident response
    found = next(s for s in loaded.services if s.is_compromise)
    assert [a.id for a, _ in advice_for(found)] == ["incident-response"]
    csv_row = dict(zip(COLUMNS, row(found), strict=True))
    assert csv_row["indicators"] == "miner-config ransom-note"
    assert csv_row["fixes"] == "incident-response"
    html = render_report(loaded, summary)
    assert 'data-tile="compromise"' in html
    assert (
        "2 hosts show signs of compromise on their file shares (miner-config, ransom-note)" in html
    )


def test_public_release_withholds_rare_compromise_categories(tmp_path: Path) -> None:
    ransom = msgspec.structs.replace(HIT, indicator="ransom-note", category="ransom-note")
    findings = _shares_with([HIT], 5) + _shares_with([ransom], 1, first=50)
    public = anonymise(summarise(_load(tmp_path, findings)), k=5)
    assert public.compromise.hosts == 6
    assert public.compromise.by_category == {"miner-config": 5}  # one ransom note: withheld
    assert public.compromise.by_country == {"local": 6}  # documentation range: not public
    assert public.suppression is not None
    assert public.suppression.categories["compromise"] == 1
    small = anonymise(summarise(_load(tmp_path, _shares_with([HIT], 2))), k=5)
    assert small.compromise.hosts is None  # two hosts: fewer than k
    assert small.compromise.by_category == {}
    assert small.compromise.by_country == {}


def test_owner_notice_names_the_signs_and_incident_response(tmp_path: Path) -> None:
    owners = tmp_path / "owners.csv"
    owners.write_text("cidr,owner,contact\n198.51.100.0/24,Example Clinic,sec@example.invalid\n")
    loaded = _load(tmp_path, _shares_with([HIT], 1))
    result = write_notices(loaded, read_owner_map(owners), tmp_path / "notices")
    text = next(p for p in result.paths if p.suffix == ".md").read_text()
    assert "signs of compromise: miner-config" in text
    assert "We found 1 medical-imaging service in" in text  # the share; its signs are no service
    assert "One host shows signs of compromise on its file shares" in text
    assert "Treat the host as compromised" in text
    row = next(line for line in text.splitlines() if "| compromise |" in line)
    assert "unidentified" not in row  # a compromise finding has no product to name


def test_one_host_compromised_over_three_protocols_is_one_host(tmp_path: Path) -> None:
    """A NAS showing one ransom note over FTP, SMB and rsync is one victim, not three: the
    count and k-suppression are per address, so --public never singles it out."""
    shares = [
        _share("198.51.100.77", port=port, protocol=protocol, status=status, indicators=[HIT])
        for port, protocol, status in (
            (21, "ftp", Status.FTP),
            (445, "smb", Status.SMB),
            (873, "rsync", Status.RSYNC),
        )
    ]
    summary = summarise(_load(tmp_path, with_compromise_findings(shares)))
    assert summary.compromise.hosts == 1
    assert summary.compromise.by_category == {"miner-config": 1}
    public = anonymise(summary, k=2)
    assert public.compromise.hosts is None
    assert public.compromise.by_country == {}


def test_a_share_with_folders_named_after_patients_gets_the_rename_advice(tmp_path: Path) -> None:
    share = _share(
        "198.51.100.90",
        headers_sampled=10,
        samples_in_named_paths=7,
        exposure_class=ExposureClass.PHI_READABLE,
        severity=Severity.CRITICAL,
    )
    service = _load(tmp_path, [share]).services[0]
    assert "names-in-paths" in service.flags
    assert "rename-folders" in [a.id for a, _ in advice_for(service)]
    plain = msgspec.structs.replace(
        share, result=msgspec.structs.replace(share.result, samples_in_named_paths=0)
    )
    (tmp_path / "plain").mkdir()
    other = _load(tmp_path / "plain", [plain]).services[0]
    assert "rename-folders" not in [a.id for a, _ in advice_for(other)]


def test_diff_reports_hosts_newly_compromised_apart_from_exposure(tmp_path: Path) -> None:
    """Measured again months later: a host whose share now holds a ransom note is an incident
    since the last scan, reported as such, not as a 'newly exposed' service."""
    from pacsaudit.report.diff import diff, render_text
    from pacsaudit.report.html import render_diff

    ransom = msgspec.structs.replace(HIT, indicator="ransom-note", category="ransom-note")
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir()
    new_dir.mkdir()
    clean = _shares_with([], 2)  # 198.51.100.10 and .11, nothing on them yet
    hit_now = _shares_with([ransom], 1)  # .10 again, now with a ransom note
    old = _load(old_dir, [*_shares_with([HIT], 1, first=30), *clean])  # .30 had a miner
    new = _load(new_dir, [*hit_now, clean[1]])
    d = diff(old, new)
    assert d.compromise.new_hosts == ["198.51.100.10"]
    assert d.compromise.gone_hosts == ["198.51.100.30"]
    assert all(c.protocol != "compromise" for items in d.changes.values() for c in items)
    assert "signs of compromise: 1 hosts new, 0 still, 1 gone" in render_text(d)
    assert 'data-change="newly-compromised"' in render_diff(d)
