"""pacsaudit diff: the fixture's old and new scans, with the changes counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import report_fixtures as fx

from pacsaudit.report.build import write_diff, write_report
from pacsaudit.report.diff import diff, render_text
from pacsaudit.report.records import load_results


def both(tmp_path: Path) -> tuple[Path, Path]:
    return fx.write_old(tmp_path), fx.write_new(tmp_path)


def test_services_sorted_into_newly_exposed_fixed_still_and_gone(tmp_path: Path) -> None:
    old, new = both(tmp_path)
    d = diff(load_results([old]), load_results([new]))
    targets = {kind: sorted(c.target for c in items) for kind, items in d.changes.items()}
    assert targets == {
        "newly-exposed": sorted(
            ["53.10.0.2:11112", "53.10.0.3:4242", "53.10.0.5:2762", "17.1.0.2:104",
             "17.1.0.6:4242", "133.11.0.1:104", "10.20.0.5:104", "12.0.0.9:104"]
        ),
        "fixed": ["53.10.0.4:104"],
        "still-exposed": ["17.1.0.1:104", "53.10.0.1:104"],
        "no-longer-seen": ["53.10.0.7:104"],
    }  # fmt: skip
    honeypot = next(c for c in d.changes["newly-exposed"] if c.ip == "12.0.0.9")
    assert honeypot.flags == ["likely-honeypot"]
    fixed = d.changes["fixed"][0]
    assert (fixed.old_class, fixed.new_class) == ("phi-readable", "ae-enforced")
    still = {c.ip: c for c in d.changes["still-exposed"]}
    de = still["53.10.0.1"]
    assert (de.patients.old, de.patients.new, de.patients.delta) == (8, 10, 2)
    assert (de.images.old, de.images.new, de.images.delta) == (80, 100, 20)
    assert de.patients_newly_exposed == 2
    us = still["17.1.0.1"]
    assert us.patients.delta == 0
    assert us.patients.lower_bound
    assert us.patients_newly_exposed == 0


def test_totals_and_patients_newly_exposed_by_keyed_hash(tmp_path: Path) -> None:
    old, new = both(tmp_path)
    d = diff(load_results([old]), load_results([new]))
    for name in ("patients", "studies", "images"):
        m = d.totals[name]
        assert (m.old, m.new) == (fx.OLD_TOTALS[name], fx.NEW_TOTALS[name])
        assert m.delta == fx.NEW_TOTALS[name] - fx.OLD_TOTALS[name]
    assert d.totals["patients"].lower_bound
    assert d.hashes_comparable
    assert d.patients_newly_exposed == 7  # 2 at 53.10.0.1, 3 in JP, 2 on the local network
    assert d.patients_no_longer_exposed == 10  # 53.10.0.7's 6 and the fixed server's 4


def test_hashes_of_different_keys_are_never_compared(tmp_path: Path) -> None:
    rekeyed = [
        fx.Svc(s.ip, s.port, s.cls, s.patients, s.studies, s.images, phi=s.phi,
               hashes=s.hashes, key=fx.OTHER_KEY, timestamp=fx.TS_OLD)
        for s in fx.OLD
    ]  # fmt: skip
    old = fx.write(tmp_path / "rekeyed.jsonl", rekeyed)
    d = diff(load_results([old]), load_results([fx.write_new(tmp_path)]))
    assert not d.hashes_comparable
    assert d.patients_newly_exposed is None
    assert all(c.patients_newly_exposed is None for c in d.changes["newly-exposed"])
    assert any("different keys" in w for w in d.warnings)
    assert "patients newly exposed: not comparable" in render_text(d)


def test_text_json_and_html_forms(tmp_path: Path) -> None:
    old, new = both(tmp_path)
    d, written = write_diff([old], [new], tmp_path / "diff")
    text = render_text(d)
    assert "newly-exposed (8)" in text
    assert "fixed (1)" in text
    assert "  53.10.0.1:104" in text
    assert "patients 8 → 10 (+2)" in text
    assert (
        "total: patients ≥38 → ≥47 (≈+9), studies 56 → 73 (+17), images 480 → ≥523 (≈+43)" in text
    )
    assert "patients newly exposed (keyed hashes): 7; no longer exposed: 10" in text
    assert [p.name for p in written.paths] == ["diff.json", "diff.html"]
    data = json.loads((tmp_path / "diff" / "diff.json").read_text("utf-8"))
    assert data["patients_newly_exposed"] == 7
    assert len(data["changes"]["still-exposed"]) == 2
    html = (tmp_path / "diff" / "diff.html").read_text("utf-8")
    assert html.count('<tr data-change="newly-exposed">') == 8
    assert '12.0.0.9:104 <span class="badge flag">likely-honeypot</span>' in html
    assert '<div class="tile" data-change="patients-newly-exposed"><b>7</b>' in html
    for h in fx.hs(0, 1000):
        assert h not in html
        assert h not in text


def test_report_with_a_baseline_has_the_diff_section(tmp_path: Path) -> None:
    old, new = both(tmp_path)
    write_report([new], tmp_path / "out", baseline=[old])
    html = (tmp_path / "out" / "report.html").read_text("utf-8")
    assert 'data-section="diff"' in html
    assert html.count('<tr data-change="fixed">') == 1
