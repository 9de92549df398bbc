"""What a C-FIND identifier may leave behind: presence counts, years, codes, keyed hashes."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacsaudit.measure.annex_e import load_table
from pacsaudit.measure.identifiers import (
    PATIENT_LEVEL_PHI,
    STUDY_LEVEL_PHI,
    IdentifierTally,
    count_string,
    modality_codes,
    study_year,
)
from pacsaudit.measure.keyed_hash import KeyedHasher


def test_every_phi_return_key_is_an_annex_e_attribute() -> None:
    table = load_table()
    keywords = {a.keyword for a in table.attributes}
    missing = [k for k in (*PATIENT_LEVEL_PHI, *STUDY_LEVEL_PHI) if k not in keywords]
    assert not missing


def test_issue_minimum_return_keys_are_asked_for() -> None:
    required = {
        "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
        "PatientAddress", "PatientTelephoneNumbers", "OtherPatientIDs", "PatientSize",
        "PatientWeight", "EthnicGroup", "AdditionalPatientHistory", "ReferringPhysicianName",
        "InstitutionName", "InstitutionAddress", "StudyDescription", "AccessionNumber", "StudyID",
    }  # fmt: skip
    assert required <= set(STUDY_LEVEL_PHI)


def test_tally_counts_presence_and_hashes_ids_only() -> None:
    tally = IdentifierTally(KeyedHasher(b"k" * 32))
    a = Dataset()
    a.PatientName = "Canary^Alpha"
    a.PatientID = "CNRY-1"
    a.PatientBirthDate = ""
    a.OtherPatientIDsSequence = Sequence([Dataset()])
    b = Dataset()
    b.PatientName = ""
    b.PatientID = "CNRY-1"
    tally.add(a, ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDsSequence"))
    tally.add(b, ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDsSequence"))
    assert tally.records == 2
    assert dict(tally.phi) == {"PatientName": 1, "PatientID": 2, "OtherPatientIDsSequence": 1}
    assert len(tally.patient_hashes) == 1
    assert "CNRY" not in repr(tally)  # every field, as its repr shows them


def test_study_facts_are_reduced() -> None:
    assert study_year(b"20240131") == 2024
    assert study_year(b"2024") == 2024
    assert study_year(b"1800") is None
    assert study_year(b"ab") is None
    assert count_string(b"  42 ") == 42
    assert count_string(b"4e2") is None
    assert count_string(b"9999999999") is None
    assert modality_codes(b"CT\\SR \\Jane Doe\\") == ["CT", "SR"]
    assert modality_codes(None) == []


def test_every_worklist_return_key_is_an_annex_e_attribute() -> None:
    from pacsaudit.measure.identifiers import WORKLIST_PHI, WORKLIST_STEP_PHI

    keywords = {a.keyword for a in load_table().attributes}
    assert [k for k in (*WORKLIST_PHI, *WORKLIST_STEP_PHI) if k not in keywords] == []


def test_worklist_answer_counts_its_step_and_hashes_the_id_only() -> None:
    tally = IdentifierTally(KeyedHasher(b"k" * 32))
    step = Dataset()
    step.ScheduledPerformingPhysicianName = "Canary^Performer"
    step.ScheduledProcedureStepDescription = ""
    answer = Dataset()
    answer.PatientName = "Canary^Worklist"
    answer.PatientID = "WLCANARY1"
    answer.ScheduledProcedureStepSequence = Sequence([step])
    tally.add_worklist_item(answer)
    assert tally.phi == {"PatientName": 1, "PatientID": 1, "ScheduledPerformingPhysicianName": 1}
    assert len(tally.patient_hashes) == 1
    assert "WLCANARY1" not in repr(tally)
    assert "Canary" not in repr(tally)


def test_an_undecodable_step_sequence_counts_as_absent() -> None:
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    tally = IdentifierTally(KeyedHasher(b"k" * 32))
    answer = Dataset()
    answer.PatientID = "WLCANARY2"
    tag = Tag(0x0040, 0x0100)  # Scheduled Procedure Step Sequence, with a broken item
    answer[tag] = RawDataElement(tag, "SQ", 8, b"\xfe\xff\x00\xe0\xff\x00\x00\x00", 0, True, True)
    tally.add_worklist_item(answer)
    assert tally.phi == {"PatientID": 1}
