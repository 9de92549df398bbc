"""The C-MOVE check's hand-written identifier is byte for byte what pydicom writes."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from pacsaudit.probes.dicom import query

TRANSFER_SYNTAXES = (query.IMPLICIT_VR_LE, query.EXPLICIT_VR_LE)


def pydicom_identifier(level: str, keyword: str, value: str, transfer_syntax: str) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    setattr(ds, keyword, value)
    return query.encode_identifier(ds, transfer_syntax)


@pytest.mark.parametrize("transfer_syntax", TRANSFER_SYNTAXES)
@pytest.mark.parametrize(
    ("level", "keyword", "value"),
    [
        ("STUDY", "StudyInstanceUID", "1.2.840.113619.2.55.3"),  # odd length: padded with NUL
        ("STUDY", "StudyInstanceUID", "2.25.1234"),
        ("PATIENT", "PatientID", "PA0123456789AB"),
        ("PATIENT", "PatientID", "PA1"),  # odd length: padded with a space
    ],
)
def test_move_key_is_what_pydicom_writes(
    level: str, keyword: str, value: str, transfer_syntax: str
) -> None:
    key = query.MoveKey(level, value.encode("ascii"))
    assert key.encode(transfer_syntax) == pydicom_identifier(level, keyword, value, transfer_syntax)
    decoded = query.decode_identifier(key.encode(transfer_syntax), transfer_syntax)
    assert decoded.QueryRetrieveLevel == level
    assert getattr(decoded, keyword) == value


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        (b"1.2.3", True),
        (b"9" * 64, True),
        (b"9" * 65, False),  # longer than PS3.5 allows
        (b"", False),
        (b"1.2.3\x1b[2J", False),  # a hostile server's escape sequence
        (b"1.2.3 ", False),
    ],
)
def test_only_a_well_formed_uid_is_sent_back(raw: bytes, valid: bool) -> None:
    assert query.MoveKey.is_uid(raw) is valid
