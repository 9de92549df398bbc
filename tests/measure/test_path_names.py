"""A path that names its patient is found by words, never kept."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from pacsaudit.measure.path_names import path_names_patient, patient_words


def _ds(name: str = "CANARYDOE^JANE", patient_id: str = "CNRY123456") -> Dataset:
    ds = Dataset()
    ds.PatientName = name
    ds.PatientID = patient_id
    return ds


@pytest.mark.parametrize(
    "parts",
    [
        ("CANARYDOE_JANE", "CT", "IM0001.dcm"),  # family name, any case, split on _
        ("archive", "canarydoe-jane-1960", "a.dcm"),
        ("2024", "CNRY123456_CT", "x.dcm"),  # the Patient ID as a word of a folder
        ("Jane",),  # a given name of three letters or more
        ("CanarydoeJane", "a.dcm"),  # camelCase
        ("CANARYDOE123", "a.dcm"),  # letters then digits
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
        ("scans", "CNRY123456.dcm"),  # an ID only counts in folders (file names are counters)
    ],
)
def test_other_paths_are_not(parts: tuple[str, ...]) -> None:
    assert not path_names_patient(parts, _ds())


def test_words_of_no_one_never_match() -> None:
    anonymous = _ds(name="ANONYMOUS^PATIENT", patient_id="")
    assert patient_words(anonymous) == set()
    assert not path_names_patient(("anonymous", "patient", "x.dcm"), anonymous)
    assert not path_names_patient(("AB", "x.dcm"), _ds(name="AB^CD", patient_id="12"))


def test_other_scripts_and_accents() -> None:
    ivanov = _ds(name="Иванов^Иван", patient_id="")
    assert path_names_patient(("Иванов_Иван", "a.dcm"), ivanov)
    assert path_names_patient(("mueller", "x"), _ds(name="MUELLER^HANS", patient_id=""))
    assert path_names_patient(("Müller-Hans", "a.dcm"), _ds(name="Muller^Hans", patient_id=""))


def test_short_ids_and_counters_do_not_match() -> None:
    short = _ds(name="", patient_id="0001")
    assert not path_names_patient(("2023", "IM-0001-0001.dcm"), short)
    year = _ds(name="", patient_id="2023")
    assert not path_names_patient(("2023", "a.dcm"), year)
