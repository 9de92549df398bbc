"""A path that names its patient is found by words, never kept."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from pacsaudit.measure.path_names import path_names_patient, patient_words


def _ds(name: str = "CANARYDOE^JANE", patient_id: str = "CNRY1234") -> Dataset:
    ds = Dataset()
    ds.PatientName = name
    ds.PatientID = patient_id
    return ds


@pytest.mark.parametrize(
    "parts",
    [
        ("CANARYDOE_JANE", "CT", "IM0001.dcm"),  # family name, any case, split on _
        ("archive", "canarydoe-jane-1960", "a.dcm"),
        ("2024", "CNRY1234_CT", "x.dcm"),  # the Patient ID as a word
        ("Jane",),  # a given name of three letters or more
    ],
)
def test_named_paths_are_found(parts: tuple[str, ...]) -> None:
    assert path_names_patient(parts, _ds())


@pytest.mark.parametrize(
    "parts",
    [
        ("studies", "patient00001", "img.dcm"),
        ("CANARYDOEX", "a.dcm"),  # a longer word is another word
        ("CNRY12345", "a.dcm"),
    ],
)
def test_other_paths_are_not(parts: tuple[str, ...]) -> None:
    assert not path_names_patient(parts, _ds())


def test_words_of_no_one_never_match() -> None:
    anonymous = _ds(name="ANONYMOUS^PATIENT", patient_id="")
    assert patient_words(anonymous) == set()
    assert not path_names_patient(("anonymous", "patient", "x.dcm"), anonymous)
    assert not path_names_patient(("AB", "x.dcm"), _ds(name="AB^CD", patient_id="12"))
