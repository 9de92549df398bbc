"""summary.json from the fixture scan: totals, breakdowns and distinct patients against numbers
counted by hand (report_fixtures.py), the schema, and the public release's suppression."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import report_fixtures as fx

from pacsaudit.report.build import write_report
from pacsaudit.report.records import load_results
from pacsaudit.report.summary import Summary, anonymise, encode_summary, summarise

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "summary.schema.json"


def summary_of(tmp_path: Path, *more: list[fx.Svc]) -> Summary:
    paths = [fx.write_new(tmp_path)]
    paths += [fx.write(tmp_path / f"more{i}.jsonl", m) for i, m in enumerate(more)]
    return summarise(load_results(paths))


def test_headline_totals_carry_lower_bounds_and_leave_the_honeypot_out(tmp_path: Path) -> None:
    t = summary_of(tmp_path).totals
    assert (t.services, t.exposed, t.patients, t.studies, t.images) == tuple(
        fx.NEW_TOTALS[k] for k in ("services", "exposed", "patients", "studies", "images")
    )
    assert t.patients_lower_bound  # 17.1.0.1 was cut short
    assert t.images_lower_bound  # 53.10.0.2 too
    assert not t.studies_lower_bound
    assert t.bytes is None  # no probe measured bytes
    assert t.exposed_uncounted == 2  # 53.10.0.5 and 17.1.0.2: open, nothing to count


def test_flagged_services_are_counted_apart(tmp_path: Path) -> None:
    s = summary_of(tmp_path)
    apart = s.flagged["likely-honeypot"]
    assert (apart.services, apart.patients, apart.images) == (1, 1000, 5000)
    assert sum(c.services for c in s.by_country.values()) == fx.NEW_TOTALS["services"]
    assert s.by_country["US"].services == 6  # the US honeypot is not one of them
    assert s.phi_attributes["PatientName"].records == 47


def test_breakdowns(tmp_path: Path) -> None:
    s = summary_of(tmp_path)
    assert {k: c.services for k, c in s.by_exposure_class.items()} == {
        "phi-readable": 6,
        "retrievable": 1,
        "open-association": 2,
        "ae-enforced": 4,
    }
    assert list(s.by_exposure_class) == ["phi-readable", "retrievable", "open-association",
                                         "ae-enforced"]  # fmt: skip
    assert {k: c.services for k, c in s.by_severity.items()} == {
        "critical": 6, "high": 1, "medium": 2, "low": 4,
    }  # fmt: skip
    assert {k: c.services for k, c in s.by_port.items()} == {
        "104": 7, "11112": 3, "4242": 2, "2762": 1,
    }  # fmt: skip
    assert {k: c.services for k, c in s.by_product_version.items()} == {
        "DCMTK 3.6.7": 8, "pynetdicom 3.0.4": 3, "DCMTK 3.6.6": 1, "unidentified": 1,
    }  # fmt: skip
    assert {k: c.services for k, c in s.by_product.items()} == {
        "DCMTK": 9, "pynetdicom": 3, "unidentified": 1,
    }  # fmt: skip
    country = {k: (c.services, c.exposed, c.patients, c.studies, c.images)
               for k, c in s.by_country.items()}  # fmt: skip
    assert country == {
        "US": (6, 3, 27, 37, 370),
        "DE": (5, 4, 15, 31, 140),
        "JP": (1, 1, 3, 3, 9),
        "local": (1, 1, 2, 2, 4),
    }
    assert s.by_country["DE"].images_lower_bound
    assert not s.by_country["DE"].patients_lower_bound
    assert s.by_country["US"].patients_lower_bound
    assert {k: c.services for k, c in s.by_tls.items()} == {
        "plaintext": 12, "tls": 1, "tls-self-signed-certificate": 1,
    }  # fmt: skip
    assert {k: c.services for k, c in s.by_ae_policy.items()} == {
        "any-called-ae": 8, "called-ae-enforced": 4, "guessable": 1,
    }  # fmt: skip
    assert {k: c.services for k, c in s.by_cve.items()} == {
        "CVE-2022-2121": 1, "CVE-2022-43272": 1,
    }  # fmt: skip
    assert s.records_by_status == {"dicom": 14, "closed": 1, "open-not-dicom": 1}
    phi = {k: (a.services, a.records) for k, a in s.phi_attributes.items()}
    assert phi == {
        "PatientName": (6, 47),
        "PatientID": (5, 44),
        "PatientBirthDate": (1, 10),
        "ReferringPhysicianName": (1, 30),
    }


def test_distinct_patients_from_keyed_hashes(tmp_path: Path) -> None:
    d = summary_of(tmp_path).distinct_patients
    assert d.value == fx.NEW_DISTINCT  # overlapping services count each patient once
    assert d.comparable
    assert d.lower_bound
    assert d.per_key == {fx.KEY: fx.NEW_DISTINCT}


def test_hashes_made_with_another_key_are_not_merged(tmp_path: Path) -> None:
    other = [
        fx.Svc("53.20.0.1", 104, "phi-readable", 2, 2, 2, phi={"PatientID": 2},
               hashes=fx.hs(0, 2), key=fx.OTHER_KEY)
    ]  # fmt: skip
    s = summary_of(tmp_path, other)
    d = s.distinct_patients
    assert d.value is None
    assert not d.comparable
    assert d.per_key == {fx.KEY: fx.NEW_DISTINCT, fx.OTHER_KEY: 2}
    assert any("different scans" in w for w in s.warnings)


def test_summary_matches_its_schema_and_the_schema_is_current(tmp_path: Path) -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_schema.py"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    schema = json.loads(SCHEMA.read_text("utf-8"))
    for summary in (summary_of(tmp_path), anonymise(summary_of(tmp_path), 5)):
        jsonschema.validate(json.loads(encode_summary(summary)), schema)


def test_public_release_suppresses_small_cells(tmp_path: Path) -> None:
    s = anonymise(summary_of(tmp_path), 5)
    assert s.public
    # JP and local have one service each: withheld; DE and US have ≥5 services but fewer than
    # 5 exposed, so their sums are withheld and their service counts stay.
    assert set(s.by_country) == {"US", "DE"}
    for c in s.by_country.values():
        assert c.suppressed
        assert (c.exposed, c.patients, c.studies, c.images) == (None, None, None, None)
    assert s.by_country["US"].services == 6
    assert set(s.phi_attributes) == {"PatientName", "PatientID"}
    assert set(s.by_product_version) == {"DCMTK 3.6.7"}
    assert set(s.by_port) == {"104"}
    assert s.by_cve == {}
    assert s.flagged == {}
    assert s.records_by_status == {"dicom": 14}
    assert s.suppression is not None
    assert s.suppression.categories["by_country"] == 2
    assert s.suppression.categories["phi_attributes"] == 2
    assert s.suppression.sums["by_country"] == 2
    # 9 exposed services behind the headline: kept
    assert (s.totals.patients, s.totals.exposed) == (47, 9)
    assert s.distinct_patients.value == fx.NEW_DISTINCT
    assert s.distinct_patients.per_key == {"key-1": fx.NEW_DISTINCT}
    assert s.inputs.files == []


def test_public_release_with_smaller_k_keeps_sums_backed_by_enough_services(
    tmp_path: Path,
) -> None:
    s = anonymise(summary_of(tmp_path), 3)
    assert set(s.by_country) == {"US", "DE"}
    assert (s.by_country["DE"].exposed, s.by_country["DE"].patients) == (4, 15)
    assert (s.by_country["US"].exposed, s.by_country["US"].patients) == (3, 27)
    assert set(s.by_product_version) == {"DCMTK 3.6.7", "pynetdicom 3.0.4"}
    with pytest.raises(ValueError, match="k must be at least 1"):
        anonymise(summary_of(tmp_path), 0)


def test_a_small_scan_in_public_withholds_the_headline(tmp_path: Path) -> None:
    path = fx.write(tmp_path / "one.jsonl", fx.NEW[:1])
    s = anonymise(summarise(load_results([path])), 5)
    assert s.totals.suppressed
    assert s.totals.patients is None
    assert s.distinct_patients.value is None
    assert s.by_country == {}


def test_public_output_holds_no_address_or_identifier(tmp_path: Path) -> None:
    new = fx.write_new(tmp_path)
    cut = tmp_path / "cut-hospital-x.jsonl"
    cut.write_bytes(fx.lines(fx.NEW)[0][:50])
    out = tmp_path / "public"
    written = write_report([new, cut], out, public=True, k=5)
    assert sorted(p.name for p in written.paths) == ["report.html", "summary.json"]
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "summary.json"]
    assert any(f"{cut}:1" in w for w in written.warnings)  # the terminal names the line
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert "1 bad line skipped, the valid records are reported" in summary["warnings"]
    assert summary["inputs"]["bad_lines"] == 1
    forbidden = fx.identifiers(fx.NEW) | {str(tmp_path), "new.jsonl", "hospital-x"}
    for path in out.iterdir():
        text = path.read_text("utf-8")
        found = sorted(x for x in forbidden if x in text)
        assert found == [], f"{path.name} leaks {found}"
    html = (out / "report.html").read_text("utf-8")
    assert "JP" not in json.loads((out / "summary.json").read_text("utf-8"))["by_country"]
    assert 'id="findings-table"' not in html
    assert "categories backed by fewer than 5 services are withheld" in html


def test_full_report_writes_three_files_with_the_findings(tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = write_report([fx.write_new(tmp_path)], out)
    assert sorted(p.name for p in written.paths) == ["findings.csv", "report.html", "summary.json"]
    csv_text = (out / "findings.csv").read_text("utf-8")
    rows = csv_text.splitlines()
    assert len(rows) == 1 + 15  # header, every record but the closed port
    assert rows[1].startswith("10.20.0.5,pacs.internal.example,104,dicom,dicom,local,critical,")
    de = next(r for r in rows if r.startswith("53.10.0.1,"))
    assert de.startswith("53.10.0.1,pacs.de-hospital.example,104,dicom,dicom,DE,critical,")
    assert "PatientBirthDate=10; PatientID=10; PatientName=10" in de
    assert all(h not in csv_text for h in fx.hs(0, 1000))  # hashes stay in the JSON Lines
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["totals"]["patients"] == 47
    assert summary["inputs"]["files"] == [str(tmp_path / "new.jsonl")]


def test_a_fleet_of_identical_services_is_counted_apart(tmp_path: Path) -> None:
    """Three addresses with the same identifiers and counts: one image deployed three times."""
    fleet = [
        fx.Svc(f"17.2.0.{n}", 104, "phi-readable", 25, 60, 295, phi={"PatientName": 25},
               hashes=fx.hs(700, 725))
        for n in (1, 2, 3)
    ]  # fmt: skip
    s = summary_of(tmp_path, fleet)
    assert s.flagged["fleet"].services == 3
    assert s.flagged["fleet"].patients == 75
    assert s.totals.patients == fx.NEW_TOTALS["patients"]  # the fleet stays out of the totals
    assert s.distinct_patients.value == fx.NEW_DISTINCT
    assert any("3 services answer with the same identifiers" in w for w in s.warnings)


def test_public_release_never_names_a_product_by_a_peers_greeting(tmp_path: Path) -> None:
    """Five FTP servers greeting with their hospital's name would pass k=5 by product."""
    records = [
        {"ip": f"53.30.0.{n}", "port": 21, "protocol": "ftp", "status": "open",
         "timestamp": fx.TS_NEW, "schema_version": 1,
         "result": {"kind": "fileshare", "server": "Welcome to St Example Hospital FTP",
                    "exposure_class": "anonymous-access", "severity": "medium"}}
        for n in range(1, 6)
    ]  # fmt: skip
    path = tmp_path / "ftp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "public"
    write_report([path], out, public=True, k=5)
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["by_product"]["unidentified"]["services"] == 5
    for name in ("summary.json", "report.html"):
        assert "Example Hospital" not in (out / name).read_text("utf-8")
    write_report([path], tmp_path / "full")
    assert "Example Hospital" in (tmp_path / "full" / "report.html").read_text("utf-8")
