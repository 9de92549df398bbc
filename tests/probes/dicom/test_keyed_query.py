"""The survey's fixed identifiers, written by hand, are the bytes pydicom writes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from pacsaudit.probes.dicom.exposure import (
    MINIMAL_PATIENT,
    MINIMAL_STUDY,
    patient_identifier,
    study_identifier,
)
from pacsaudit.probes.dicom.keyed_query import EXPLICIT_VR_LE, KEYS, KeyedQuery
from pacsaudit.probes.dicom.query import IMPLICIT_VR_LE, encode_identifier


def pydicom_bytes(query: KeyedQuery, explicit: bool) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = query.level
    for keyword in query.keywords:
        setattr(ds, keyword, "")
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = not explicit
    write_dataset(fp, ds)
    return bytes(fp.getvalue())


def test_every_key_has_the_tag_and_vr_of_the_data_dictionary() -> None:
    for keyword, (tag, vr) in KEYS.items():
        assert tag_for_keyword(keyword) == tag, keyword
        assert dictionary_VR(tag) == vr, keyword


@pytest.mark.parametrize(
    "query",
    [
        patient_identifier(),
        patient_identifier(MINIMAL_PATIENT),
        study_identifier(),
        study_identifier(MINIMAL_STUDY),
        KeyedQuery("IMAGE", ("PatientComments", "PatientID")),  # odd level, LT
    ],
    ids=lambda q: f"{q.level}-{len(q.keywords)}",
)
def test_written_by_hand_as_pydicom_writes_it(query: KeyedQuery) -> None:
    assert encode_identifier(query, IMPLICIT_VR_LE) == pydicom_bytes(query, explicit=False)
    assert encode_identifier(query, None) == pydicom_bytes(query, explicit=False)
    assert encode_identifier(query, EXPLICIT_VR_LE) == pydicom_bytes(query, explicit=True)


def test_the_survey_loads_no_pydicom_until_a_match_comes() -> None:
    """Importing the survey and writing its queries import no pydicom (about 90 ms of every
    process of a sweep of empty archives)."""
    code = (
        "import sys\n"
        "from pacsaudit.probes.dicom import exposure, query\n"
        "for ts in (None, '1.2.840.10008.1.2.1'):\n"
        "    query.encode_identifier(exposure.patient_identifier(), ts)\n"
        "    query.encode_identifier(exposure.study_identifier(), ts)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydicom'))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
