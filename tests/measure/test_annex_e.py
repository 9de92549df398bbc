"""The packaged Annex E table and the presence counts other modules build on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacsaudit.measure import PRIVATE_KEYWORD, Option, count_present, load_table
from pacsaudit.measure.annex_e import declared_options, resolve

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "dicom-standard"


def test_table_has_every_attribute_of_the_source() -> None:
    table = load_table()
    assert len(table.attributes) == 621
    assert table.provenance["attributes"] == 621
    name = table.by_keyword["PatientName"]
    assert (name.tag, name.basic, name.value) == ("(0010,0010)", "Z", 0x00100010)
    assert table.by_keyword["PatientID"].basic == "Z/D"


def test_options_change_actions_as_the_columns_say() -> None:
    table = load_table()
    study_date = table.by_keyword["StudyDate"]
    assert study_date.action() == "Z"
    assert study_date.action([Option.RETAIN_LONG_FULL_DATES]) == "K"
    assert study_date.action([Option.RETAIN_LONG_MODIFIED_DATES]) == "C"
    # both chosen: keeping beats cleaning
    both = [Option.RETAIN_LONG_MODIFIED_DATES, Option.RETAIN_LONG_FULL_DATES]
    assert study_date.action(both) == "K"
    assert table.by_keyword["StudyInstanceUID"].action([Option.RETAIN_UIDS]) == "K"
    assert table.by_keyword["PatientSex"].action([Option.RETAIN_PATIENT_CHARACTERISTICS]) == "K"


def test_repeating_and_private_rows_match_their_groups() -> None:
    table = load_table()
    assert table.lookup(0x60023000).keyword == "OverlayData"  # type: ignore[union-attr]
    assert table.lookup(0x60004000).keyword == "OverlayComments"  # type: ignore[union-attr]
    assert table.lookup(0x60000010) is None  # overlay rows: not in the table
    assert table.lookup(0x501E0010).keyword == "CurveData"  # type: ignore[union-attr]
    assert table.lookup(0x00291010).keyword == PRIVATE_KEYWORD  # type: ignore[union-attr]
    assert table.lookup(0x00280010) is None  # Rows


@pytest.mark.parametrize(
    ("compound", "chosen"),
    [("X/Z", "Z"), ("X/D", "D"), ("Z/D", "D"), ("X/Z/D", "D"), ("X/Z/U*", "U"), ("X", "X")],
)
def test_compound_actions_resolve_towards_conformance(compound: str, chosen: str) -> None:
    assert resolve(compound) == chosen


def test_count_present_counts_nested_and_private_never_empty() -> None:
    ds = Dataset()
    ds.PatientName = "CANARY^ONE"
    ds.PatientID = ""  # empty: not counted
    ds.AccessionNumber = "   "  # blanks only: not counted
    ds.Modality = "CT"  # not in the table
    item = Dataset()
    item.PatientID = "NESTED"
    inner = Dataset()
    inner.PatientName = "CANARY^TWO"
    item.OtherPatientIDsSequence = Sequence([inner])
    ds.OtherPatientIDsSequence = Sequence([item])
    ds.ReferencedStudySequence = Sequence([])  # no items: not counted
    ds.add_new(0x00290010, "LO", "CREATOR")
    ds.add_new(0x00291001, "LO", "private value")
    counts = count_present(ds)
    assert counts == {
        "PatientName": 2,
        "PatientID": 1,
        "OtherPatientIDsSequence": 2,
        PRIVATE_KEYWORD: 2,
    }


def test_declared_options_read_back_from_the_code_sequence() -> None:
    ds = Dataset()
    assert declared_options(ds) is None
    ds.PatientIdentityRemoved = "YES"
    code = Dataset()
    code.CodeValue = Option.RETAIN_UIDS.code_value
    code.CodingSchemeDesignator = "DCM"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    assert declared_options(ds) == frozenset({Option.RETAIN_UIDS})


def test_refresh_check_passes_on_the_committed_copy() -> None:
    """The generator's check: the packaged copy matches its provenance (and the source)."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "annex_e_table.py"),
            "check",
            "--source",
            str(SHARED),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 621 attributes" in result.stdout


def test_refresh_check_reports_a_changed_edition(tmp_path: Path) -> None:
    rows = json.loads((ROOT / "src/pacsaudit/data/annex_e/table-e1-1.json").read_text())
    for row in rows:
        if row["tag"] == "(0008,0050)":
            row["name"] = "Accession No."
    (tmp_path / "confidentiality_profile_attributes.json").write_text(json.dumps(rows))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "annex_e_table.py"),
            "check",
            "--source",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "~ (0008,0050) Accession No." in result.stdout


def test_every_option_has_its_column_in_option_order() -> None:
    """The table's loader walks the columns, not the options: none may be missing."""
    from pacsaudit.measure.annex_e import _COLUMNS

    assert list(_COLUMNS) == list(Option)
    # and each column is read: every option has actions in the table
    assert {o for a in load_table().attributes for o in a.options} == set(Option)
