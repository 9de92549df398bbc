"""The survey's own C-FIND identifiers, written by hand: a level and empty keys.

The patient- and study-level queries are the same for every host, so they were built with
pydicom once and their encoding kept. What that still cost every process was pydicom itself:
importing it takes about 90 ms here, more than a hundred hosts' worth of a sweep, and a sweep
of archives that hold nothing (or refuse the query) never needs it. These identifiers are
elements with empty values in ascending tag order, written here byte for byte as pydicom
writes them (``tests/probes/dicom/test_keyed_query.py`` compares both transfer syntaxes);
pydicom is loaded only when an answer holds a match to decode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
QUERY_RETRIEVE_LEVEL = 0x00080052

KEYS: dict[str, tuple[int, str]] = {
    "QueryRetrieveLevel": (0x00080052, "CS"),
    "PatientName": (0x00100010, "PN"),
    "PatientID": (0x00100020, "LO"),
    "PatientBirthDate": (0x00100030, "DA"),
    "PatientSex": (0x00100040, "CS"),
    "OtherPatientIDs": (0x00101000, "LO"),
    "OtherPatientNames": (0x00101001, "PN"),
    "PatientAddress": (0x00101040, "LO"),
    "PatientTelephoneNumbers": (0x00102154, "SH"),
    "EthnicGroup": (0x00102160, "SH"),
    "PatientComments": (0x00104000, "LT"),
    "PatientAge": (0x00101010, "AS"),
    "PatientSize": (0x00101020, "DS"),
    "PatientWeight": (0x00101030, "DS"),
    "AdditionalPatientHistory": (0x001021B0, "LT"),
    "ReferringPhysicianName": (0x00080090, "PN"),
    "InstitutionName": (0x00080080, "LO"),
    "InstitutionAddress": (0x00080081, "ST"),
    "StudyDescription": (0x00081030, "LO"),
    "AccessionNumber": (0x00080050, "SH"),
    "StudyID": (0x00200010, "SH"),
    "StudyDate": (0x00080020, "DA"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "ModalitiesInStudy": (0x00080061, "CS"),
    "NumberOfStudyRelatedInstances": (0x00201208, "IS"),
    "NumberOfStudyRelatedSeries": (0x00201206, "IS"),
}
"""Keyword → (tag, VR) of every key the survey's fixed queries name (PS3.6; the test checks
each against pydicom's data dictionary)."""

_LONG_LENGTH = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT"})
"""Explicit VRs with a reserved field and a 4-byte length (PS3.5 7.1.2)."""


@dataclass(frozen=True, slots=True)
class KeyedQuery:
    """A query identifier: ``level`` and the keys named, all empty (universal matching)."""

    level: str
    keywords: tuple[str, ...]
    _encoded: tuple[bytes, bytes] = field(init=False, repr=False, compare=False)
    """Both encodings, written when the query is made: every host of a sweep is asked the same
    (hashing the query to look them up cost each host a microsecond a query)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_encoded", (_encode(self, False), _encode(self, True)))

    def encode(self, transfer_syntax: str | None) -> bytes:
        """The identifier in Implicit VR Little Endian, or Explicit where that was accepted."""
        return self._encoded[transfer_syntax == EXPLICIT_VR_LE]


def _encode(query: KeyedQuery, explicit: bool) -> bytes:
    level = query.level.encode("ascii")
    if len(level) % 2:
        level += b" "
    elements = {QUERY_RETRIEVE_LEVEL: ("CS", level)}
    for keyword in query.keywords:
        tag, vr = KEYS[keyword]
        elements.setdefault(tag, (vr, b""))
    return b"".join(
        _element(tag, vr, value, explicit) for tag, (vr, value) in sorted(elements.items())
    )


def _element(tag: int, vr: str, value: bytes, explicit: bool) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if not explicit:
        return struct.pack("<HHI", group, element, len(value)) + value
    if vr in _LONG_LENGTH:
        return struct.pack("<HH2s2xI", group, element, vr.encode(), len(value)) + value
    return struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value
