"""Names cleaned in every script: Latin-1, UTF-8 Korean, Japanese and Chinese, ISO 2022 IR 87.

Each case goes through a real file: written by pydicom in its character set, de-identified with
``--clean-descriptors`` (descriptions kept, cleaned), read back; neither the decoded text nor
the raw bytes may hold any part of the name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pytest
from pydicom.charset import convert_encodings, encode_string
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from pacsaudit.deid.canary import SCRIPT_CASES, make_script_dataset
from pacsaudit.deid.names import Identifiers
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import DeidPlan, run_deid
from pacsaudit.measure.annex_e import Option

KEY = bytes(range(32))


def _charsets(charset: str | list[str]) -> list[str]:
    return [charset] if isinstance(charset, str) else list(charset)


@pytest.mark.parametrize("script", sorted(SCRIPT_CASES))
def test_names_are_cleaned_in_every_script(script: str, tmp_path: Path) -> None:
    case = SCRIPT_CASES[script]
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    ds = make_script_dataset(case)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(src / "a.dcm", enforce_file_format=True)
    original = pydicom.dcmread(src / "a.dcm")
    assert str(original.StudyDescription) == case.description  # the file holds the name
    options = DeidOptions(frozenset({Option.CLEAN_DESCRIPTORS}))
    result = run_deid(DeidPlan(src, out, options, KEY))
    assert result.summary.written == 1
    ds = pydicom.dcmread(out / "a.dcm")
    text = "\n".join(str(e.value) for e in ds.iterall() if e.VR != "SQ" and e.tag != 0x7FE00010)
    assert ds.StudyDescription  # kept ...
    for canary in case.canaries:  # ... and cleaned
        assert canary not in text, (script, canary)
    raw = (out / "a.dcm").read_bytes()
    encodings = convert_encodings(_charsets(case.charset))
    for canary in case.canaries:
        # the name's own bytes, without the ISO 2022 escapes around them
        encoded = re.sub(rb"\x1b[$()][@A-Z]?", b"", encode_string(canary, encodings))
        assert encoded in encode_string(case.description, encodings)
        assert encoded not in raw, (script, canary)


def test_unspaced_scripts_match_inside_words_and_spaced_ones_do_not() -> None:
    ids = Identifiers()
    ids.add(["Kim^Minjun=김^민준"], "PN")
    assert ids.clean("김민준이 왔다") == "*이 왔다"  # a particle attached to the name
    assert ids.clean("Kimberly saw Kim") == "Kimberly saw *"  # whole words only
    ids.add(["Li^J"], "PN")
    assert ids.clean("Dr Li, J. Lin") == "Dr *, J. Lin"  # 2-letter names; no initials


def test_other_identifiers_keep_the_three_character_minimum() -> None:
    ids = Identifiers()
    ids.add(["12 Elm Rd"], "LO")
    assert ids.clean("slice 12 of the elm series") == "slice 12 of the * series"
