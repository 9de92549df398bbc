"""DICOM JSON and Orthanc REST study records reduced to counts (measure/dicom_json.py)."""

from __future__ import annotations

from typing import Any

import msgspec

from pacsaudit.measure.dicom_json import JsonTally, element_present, tag_list
from pacsaudit.measure.identifiers import STUDY_LEVEL_PHI
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import Exposure

HASHER = KeyedHasher(b"\x07" * 32)
SECRET = "CNRYSECRETVALUE"


def test_element_presence() -> None:
    assert element_present({"vr": "LO", "Value": ["x"]})
    assert element_present({"vr": "PN", "Value": [{"Alphabetic": "A^B"}]})
    assert element_present({"vr": "IS", "Value": [0]})
    assert element_present({"vr": "OB", "InlineBinary": "AAAA"})
    assert element_present({"vr": "OB", "BulkDataURI": "http://x/1"})
    assert element_present({"vr": "SQ", "Value": [{"00100010": {"vr": "PN"}}]})
    for empty in (
        {"vr": "LO"},
        {"vr": "LO", "Value": []},
        {"vr": "LO", "Value": ["  ", "\x00"]},
        {"vr": "PN", "Value": [{"Alphabetic": ""}]},
        {"vr": "LO", "Value": [None]},
        "not an element",
        None,
    ):
        assert not element_present(empty), empty


def test_counts_exclude_uids_and_keep_no_value() -> None:
    tally = JsonTally(hasher=HASHER)
    record: dict[str, Any] = {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": SECRET}]},
        "00100020": {"vr": "LO", "Value": [SECRET + "1"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3.4"]},
        "00080018": {"vr": "UI", "Value": ["1.2.3.5"]},
        "00081030": {"vr": "LO", "Value": ["head"]},
        "00201208": {"vr": "IS", "Value": ["12"]},
        "00080061": {"vr": "CS", "Value": ["CT", "bad code!", "MR"]},
        "00080020": {"vr": "DA", "Value": ["19990102"]},
        "00091010": {"vr": "LO", "Value": ["private"]},
        "nonsense": {"vr": "LO", "Value": ["x"]},
    }
    assert tally.add_dicom_json(record)
    assert tally.add_dicom_json(record)  # the same study twice counts once
    e = tally.exposure(queries=[], lower_bound=False)
    assert e.studies == 1
    assert e.records_examined == 2
    assert e.patients == 1
    assert e.images == 12
    assert e.phi_attributes == {
        "PatientName": 2,
        "PatientID": 2,
        "StudyDescription": 2,
        "StudyDate": 2,
        "PrivateAttributes": 2,
    }
    assert e.modalities == {"CT": 1, "MR": 1}
    assert e.study_years == {"1999": 1}
    assert e.patient_id_hashes == [HASHER.hash((SECRET + "1").encode())]
    assert SECRET not in msgspec.json.encode(e).decode()


def test_without_a_key_patients_are_counted_but_no_hash_is_written() -> None:
    tally = JsonTally(hasher=None)
    for n in range(3):
        tally.add_dicom_json({"00100020": {"vr": "LO", "Value": [f"P{n}"]}})
    e = tally.exposure(queries=[], lower_bound=False)
    assert e.patients == 3
    assert e.patient_id_hashes == []
    assert e.hash_key_id is None
    assert e.images is None  # no record said how many instances it holds


def test_hostile_shapes_are_skipped() -> None:
    tally = JsonTally(hasher=HASHER)
    assert not tally.add_dicom_json(["not", "an", "object"])
    assert not tally.add_dicom_json("string")
    huge = {"00100010": {"vr": "PN", "Value": [""] * 1_000_000 + ["late"]}}
    tally.add_dicom_json(huge)  # looks at a bounded number of items: judged empty, quickly
    deep: Any = "x"
    for _ in range(500):
        deep = {"Value": [deep]}
    tally.add_dicom_json({"00101040": {"vr": "SQ", "Value": [{"00101040": deep}]}})
    tally.add_dicom_json({"00100020": {"vr": "LO", "Value": ["x" * 100_000]}})
    e: Exposure = tally.exposure(queries=[], lower_bound=True)
    assert e.records_examined == 3
    assert e.patients == 0  # an absurdly long Patient ID is not hashed
    assert e.studies_lower_bound


def test_orthanc_rest_records() -> None:
    tally = JsonTally(hasher=HASHER)
    record = {
        "ID": "abc",
        "MainDicomTags": {
            "AccessionNumber": SECRET,
            "StudyDate": "20200101",
            "StudyInstanceUID": "1.2.3",
            "InstitutionName": "",
        },
        "PatientMainDicomTags": {"PatientID": "P1", "PatientName": SECRET, "PatientSex": "F"},
    }
    assert tally.add_orthanc_study(record)
    assert not tally.add_orthanc_study({"ID": "no tags"})
    e = tally.exposure(queries=[], lower_bound=False)
    assert e.phi_attributes == {
        "AccessionNumber": 1,
        "PatientID": 1,
        "PatientName": 1,
        "PatientSex": 1,
        "StudyDate": 1,
    }
    assert (e.studies, e.patients) == (1, 1)


def test_includefield_asks_for_the_dicom_probes_attributes() -> None:
    tags = tag_list()
    assert len(tags) == len(STUDY_LEVEL_PHI)
    assert "00100010" in tags
    assert all(len(t) == 8 and int(t, 16) for t in tags)
