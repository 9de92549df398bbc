"""Worklist patients in every reporter's totals, beside the archive's, never counted twice.

The lab test scans a real Orthanc (Debian's configuration, C-FIND and the Modality Worklists
plugin open to anyone) holding 3 synthetic patients in its archive and 5 scheduled steps for 4
patients, 2 of whom are also in the archive: 3 + 4 - 2 = 5 patients in all. The same server is
scanned first with an empty worklist folder, so the diff sees the worklist appear. The
hand-built findings below cover what a real server cannot show on one port: a service without
hashes (an older scan, or one without keyed hashes) and hashes of two keys.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pydicom
import pytest
from report_fixtures import h, hs
from rich.console import Console

from pacsaudit.lab.synth import CorpusSpec, generate_corpus
from pacsaudit.measure.classify import classify
from pacsaudit.model import (
    AePolicy,
    AssociationAttempt,
    AssociationOutcome,
    DicomResult,
    Exposure,
    Finding,
    Status,
    WorklistExposure,
    decode_finding,
    encode_finding,
)
from pacsaudit.report.build import write_diff, write_report
from pacsaudit.report.diff import render_text
from pacsaudit.report.html import render_report
from pacsaudit.report.notify import read_owner_map, write_notices
from pacsaudit.report.records import load_results
from pacsaudit.report.spreadsheet import COLUMNS, row
from pacsaudit.report.summary import anonymise, summarise
from pacsaudit.report.table import findings_table
from store_servers import debian_orthanc, write_worklist

SPEC = CorpusSpec(patients=3, studies=3, max_series_per_study=1, max_instances_per_series=1, seed=7)
KEY_A, KEY_B = "a1" * 8, "b2" * 8


def _key(tmp_path: Path) -> Path:
    key = tmp_path / "key"
    key.write_text("34" * 32 + "\n")
    key.chmod(0o600)
    return key


def _scan(ports: str, key: Path, out: Path) -> None:
    argv = [sys.executable, "-m", "pacsaudit", "scan", "127.0.0.1", "-p", ports]
    argv += ["--depth", "exposure", "-q", "--key-file", str(key), "-o", str(out)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode in (0, 3), r.stderr


def _every_file(folder: Path) -> str:
    return "\n".join(p.read_text("utf-8") for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.mark.lab
def test_orthanc_archive_and_worklist_patients_counted_once(tmp_path: Path) -> None:
    corpus = generate_corpus(tmp_path / "corpus", SPEC)
    ids = sorted({str(pydicom.dcmread(p, stop_before_pixels=True).PatientID) for p in corpus.files})
    assert len(ids) == 3
    worklists = tmp_path / "worklists"
    worklists.mkdir()
    key = _key(tmp_path)
    with debian_orthanc(
        tmp_path / "orthanc",
        worklists=worklists,
        DicomAlwaysAllowFind=True,
        DicomAlwaysAllowFindWorklist=True,
    ) as server:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}") as client:
            for path in corpus.files:
                assert client.post("/instances", content=path.read_bytes()).status_code == 200
        ports = f"{server.port},{server.http_port}"
        _scan(ports, key, tmp_path / "before.jsonl")
        canaries = write_worklist(worklists, steps=5, patients=4, patient_ids=ids[1:])
        _scan(ports, key, tmp_path / "after.jsonl")
    canaries = [*canaries, *corpus.canaries]

    findings = [decode_finding(ln) for ln in (tmp_path / "after.jsonl").read_bytes().splitlines()]
    dicom = next(
        f.result for f in findings if isinstance(f.result, DicomResult) and f.status == "dicom"
    )
    assert dicom.exposure is not None
    assert dicom.exposure.patients == 3
    assert dicom.worklist is not None
    assert (dicom.worklist.scheduled_steps, dicom.worklist.distinct_patients) == (5, 4)
    overlap = set(dicom.worklist.patient_id_hashes) & set(dicom.exposure.patient_id_hashes)
    assert len(overlap) == 2  # the two archive patients scheduled again

    loaded = load_results([tmp_path / "after.jsonl"])
    summary = summarise(loaded)
    t = summary.totals
    assert (t.patients, t.worklist_patients, t.all_patients) == (3, 4, 5)
    assert t.worklist_overlap_unhashed == 0
    assert (summary.distinct_patients.value, summary.distinct_patients.worklist_only) == (5, 2)
    # Orthanc's REST names the same store (3 patients): the archive is counted once
    assert any(s.archive for s in loaded.services if s.protocol == "http")

    out = tmp_path / "report"
    write_report([tmp_path / "after.jsonl"], out, baseline=[tmp_path / "before.jsonl"])
    html = (out / "report.html").read_text("utf-8")
    assert '<div class="tile" data-tile="patients"><b>5</b>' in html
    assert '<div class="tile" data-tile="worklist-patients"><b>4</b>' in html
    assert "(2 in no archive)" in html
    assert "worklist: 4 pt" in html
    with (out / "findings.csv").open(newline="") as fh:
        rows = {r["status"]: r for r in csv.DictReader(fh)}
    assert (rows["dicom"]["patients"], rows["dicom"]["worklist_patients"]) == ("3", "4")
    assert (rows["dicom"]["all_patients"], rows["dicom"]["all_patients_lower_bound"]) == ("5", "")

    owners = tmp_path / "owners.csv"
    owners.write_text("cidr,owner,contact\n127.0.0.0/8,Lab Clinic,sec@example.invalid\n")
    notices = write_notices(loaded, read_owner_map(owners), tmp_path / "notices")
    text = next(p for p in notices.paths if p.suffix == ".md").read_text("utf-8")
    assert (
        "**Modality worklist:** 5 scheduled steps of 4 patients listed without authentication "
        "(2 of them also among the archive's patients, counted once)"
    ) in text
    assert "4 patients scheduled on its worklist" in text

    d, _ = write_diff([tmp_path / "before.jsonl"], [tmp_path / "after.jsonl"], tmp_path / "diff")
    assert d.hashes_comparable
    assert d.patients_newly_exposed == 2  # scheduled, and in no archive before
    assert (d.totals["worklist_patients"].old, d.totals["worklist_patients"].new) == (0, 4)
    assert (d.totals["all_patients"].old, d.totals["all_patients"].new) == (3, 5)
    assert "worklist patients 0 → 4 (+4)" in render_text(d)

    console = Console(width=250, record=True)
    console.print(findings_table(findings, Counter(f.status for f in findings)))
    lines = console.export_text().splitlines()
    first = next(i for i, ln in enumerate(lines) if f":{dicom_port(findings)}" in ln)
    exposed = " ".join(ln.split("│")[6].strip() for ln in lines[first : first + 3])
    assert "MWL 5 steps, 4 pt" in exposed  # the column folds: its cell read across lines

    written = _every_file(out) + _every_file(tmp_path / "notices") + _every_file(tmp_path / "diff")
    assert [c for c in canaries if c in written] == []


def dicom_port(findings: list[Finding]) -> int:
    return next(f.port for f in findings if f.status == "dicom")


def _finding(ip: str, exposure: Exposure | None, worklist: WorklistExposure) -> Finding:
    accepted = AssociationAttempt(
        called_ae="PA0123456789AB", calling_ae="PACSAUDIT", outcome=AssociationOutcome.ACCEPTED
    )
    return classify(
        Finding(
            ip=ip,
            port=104,
            protocol="dicom",
            status=Status.DICOM,
            timestamp="2026-12-01T10:00:00.000Z",
            result=DicomResult(
                ae_policy=AePolicy.ANY_CALLED_AE,
                accepted_contexts=["Verification"],
                attempts=[accepted],
                exposure=exposure,
                worklist=worklist,
            ),
        )
    )


def _load(tmp_path: Path, findings: list[Finding]) -> list[Path]:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(encode_finding(f) for f in findings))
    return [path]


def test_without_hashes_the_larger_count_stands_for_both(tmp_path: Path) -> None:
    """.1: 10 archive and 4 worklist patients, no hashes (an older scan): 10, as a lower bound.
    .2: 6 and 3 by hashes of one key, 1 shared: 8. .3: a worklist only, 2 patients: 2."""
    findings = [
        _finding(
            "198.51.100.1",
            Exposure(patients=10),
            WorklistExposure(scheduled_steps=4, distinct_patients=4),
        ),
        _finding(
            "198.51.100.2",
            Exposure(patients=6, patient_id_hashes=hs(0, 6), hash_key_id=KEY_A),
            WorklistExposure(
                scheduled_steps=3,
                distinct_patients=3,
                patient_id_hashes=[h(5), h(100), h(101)],
                hash_key_id=KEY_A,
            ),
        ),
        _finding(
            "198.51.100.3",
            None,
            WorklistExposure(
                scheduled_steps=2,
                distinct_patients=2,
                patient_id_hashes=[h(0), h(200)],
                hash_key_id=KEY_A,
            ),
        ),
    ]
    loaded = load_results(_load(tmp_path, findings))
    t = summarise(loaded).totals
    assert (t.patients, t.worklist_patients) == (16, 9)
    assert (t.all_patients, t.all_patients_lower_bound) == (10 + 8 + 2, True)
    assert t.worklist_overlap_unhashed == 1
    d = summarise(loaded).distinct_patients
    # hashes: archive 0..5, worklists 5, 100, 101, 0, 200 -> 9 distinct, 3 in no archive
    assert (d.value, d.worklist_only, d.services_without_hashes) == (9, 3, 2)
    by_ip = {s.ip: dict(zip(COLUMNS, row(s), strict=True)) for s in loaded.services}
    assert (
        by_ip["198.51.100.1"]["all_patients"],
        by_ip["198.51.100.1"]["all_patients_lower_bound"],
    ) == ("10", "yes")
    assert by_ip["198.51.100.2"]["all_patients"] == "8"
    html = render_report(loaded, summarise(loaded))
    assert "1 services without comparable hashes count the larger" in html
    owners = tmp_path / "owners.csv"
    owners.write_text("cidr,owner,contact\n198.51.100.0/24,Example Clinic,sec@example.invalid\n")
    text = write_notices(loaded, read_owner_map(owners), tmp_path / "n").paths[0].read_text()
    assert "cannot be told: the totals count the larger number for both" in text


def test_two_keys_give_no_worklist_only_count(tmp_path: Path) -> None:
    findings = [
        _finding(
            "198.51.100.1",
            Exposure(patients=2, patient_id_hashes=hs(0, 2), hash_key_id=KEY_A),
            WorklistExposure(
                scheduled_steps=1, distinct_patients=1, patient_id_hashes=[h(0)], hash_key_id=KEY_B
            ),
        )
    ]
    loaded = load_results(_load(tmp_path, findings))
    s = summarise(loaded)
    assert s.distinct_patients.comparable is False
    assert s.distinct_patients.worklist_only is None
    assert (s.totals.all_patients, s.totals.all_patients_lower_bound) == (2, True)
    public = anonymise(s, 1)
    assert public.distinct_patients.worklist_only is None
    small = anonymise(s, 5)  # one exposed service: its sums are withheld
    assert (small.totals.worklist_patients, small.totals.all_patients) == (None, None)
