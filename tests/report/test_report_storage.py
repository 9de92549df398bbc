"""Writable and tamper-capable DICOM services, and worklist counts, through every reporter:
summary, CSV, HTML, owner notices and the scan table. Findings are built from the model and
judged by the classify stage, as a scan writes them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console

from pacsaudit.measure.classify import classify
from pacsaudit.model import (
    AePolicy,
    AssociationAttempt,
    AssociationOutcome,
    DicomResult,
    Exposure,
    ExposureClass,
    Finding,
    Severity,
    Status,
    StorageCheck,
    WorklistExposure,
    encode_finding,
)
from pacsaudit.report.html import render_report
from pacsaudit.report.notify import read_owner_map, write_notices
from pacsaudit.report.records import load_results
from pacsaudit.report.remedy import advice_for
from pacsaudit.report.spreadsheet import COLUMNS, row
from pacsaudit.report.summary import summarise
from pacsaudit.report.table import findings_table

STORAGE = StorageCheck(proposed=29, accepted=["CTImageStorage", "MRImageStorage"], associations=1)


def _dicom(ip: str, **result: object) -> Finding:
    accepted = AssociationAttempt(
        called_ae="PA0123456789AB", calling_ae="PACSAUDIT", outcome=AssociationOutcome.ACCEPTED
    )
    fields: dict[str, object] = {
        "ae_policy": AePolicy.ANY_CALLED_AE,
        "accepted_contexts": ["Verification"],
        "attempts": [accepted],
        **result,
    }
    return classify(
        Finding(
            ip=ip,
            port=104,
            protocol="dicom",
            status=Status.DICOM,
            timestamp="2026-11-26T10:00:00.000Z",
            result=DicomResult(**fields),  # type: ignore[arg-type]
        )
    )


def _findings() -> list[Finding]:
    listed = Exposure(patients=3, studies=4, phi_attributes={"PatientName": 4})
    unknown = Exposure(unknown={"patients": "peer-aborted"})
    return [
        _dicom("198.51.100.1", storage=STORAGE),
        _dicom("198.51.100.2", storage=STORAGE, exposure=listed),
        _dicom("198.51.100.3", worklist=WorklistExposure(scheduled_steps=7, distinct_patients=2)),
        _dicom("198.51.100.4", storage=STORAGE, exposure=unknown),
    ]


def test_classes_and_severities() -> None:
    judged = [f.result for f in _findings()]
    assert [(r.exposure_class, r.severity) for r in judged] == [  # type: ignore[union-attr]
        (ExposureClass.WRITABLE, Severity.HIGH),
        (ExposureClass.TAMPER_CAPABLE, Severity.CRITICAL),
        (ExposureClass.OPEN_ASSOCIATION, Severity.MEDIUM),  # steps, no PHI returned
        (ExposureClass.WRITABLE, Severity.HIGH),  # nothing listed: not tamper-capable
    ]


def test_every_reporter_carries_storage(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(encode_finding(f) for f in _findings()))
    loaded = load_results([path])
    by_ip = {s.ip: s for s in loaded.services}
    summary = summarise(loaded)
    assert summary.by_exposure_class["writable"].services == 2
    assert summary.by_exposure_class["tamper-capable"].services == 1
    assert list(summary.by_exposure_class)[:2] == ["tamper-capable", "writable"]
    assert summary.totals.exposed == 4
    # the unknown patient count of .4 is not a zero: .2's three patients are the total
    assert summary.totals.patients == 3

    writable = by_ip["198.51.100.1"]
    fixes = [a.id for a, _ in advice_for(writable)]
    assert "restrict-store" in fixes
    store = next(a for a, _ in advice_for(writable) if a.id == "restrict-store")
    for setting in ("DicomAlwaysAllowStore", "DicomModalities", "DicomCheckModalityHost"):
        assert setting in store.text
    assert "dcmqrscp" in store.text
    assert "storescp" in store.text

    csv_row = dict(zip(COLUMNS, row(writable), strict=True))
    assert csv_row["exposure_class"] == "writable"
    assert csv_row["storage_classes"] == "2"
    assert "restrict-store" in csv_row["fixes"]
    wl_row = dict(zip(COLUMNS, row(by_ip["198.51.100.3"]), strict=True))
    assert wl_row["worklist_steps"] == "7"

    html = render_report(loaded, summary)
    assert "tamper-capable" in html
    assert "store: 2" in html
    assert 'id="fix-restrict-store"' in html

    owners = tmp_path / "owners.csv"
    owners.write_text("cidr,owner,contact\n198.51.100.0/24,Example Clinic,sec@example.invalid\n")
    result = write_notices(loaded, read_owner_map(owners), tmp_path / "notices")
    text = next(p for p in result.paths if p.suffix == ".md").read_text()
    assert "**Storage:** accepts 2 Storage SOP classes from an unknown peer" in text
    assert "**Modality worklist:** 7 scheduled steps" in text
    assert "DicomAlwaysAllowStore" in text


def test_scan_table_shows_store_and_unknown_counts() -> None:
    console = Console(width=200, record=True)
    console.print(findings_table(_findings(), Counter({"dicom": 4})))
    text = console.export_text()
    assert "STORE:2" in text
    assert "tamper-capable" not in text  # the table shows severities, not classes
    line = next(ln for ln in text.splitlines() if "198.51.100.4" in ln)
    assert "? pt" in line  # unknown, not 0
    line = next(ln for ln in text.splitlines() if "198.51.100.3" in ln)
    assert "MWL 7 steps" in line
