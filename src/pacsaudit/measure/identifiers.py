"""What may leave the process of a query identifier: counts, years, modalities, keyed hashes.

Every C-FIND match passes through :class:`IdentifierTally` and is dropped. The tally keeps, per
attribute, only whether it was non-empty; of Patient ID only a keyed hash; of dates only the
year; of Modalities in Study only values that match the CS code string grammar. Values are read
as raw bytes, never decoded, so a malformed character set cannot raise with a value in the
message.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from typing import TYPE_CHECKING

import msgspec

from pacsaudit.measure.keyed_hash import KeyedHasher

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# Attributes of the PS3.15 Annex E basic profile that a Query/Retrieve SCP can return at the
# PATIENT and STUDY levels (PS3.4 C.6.1.1 and C.6.2.1, "all other attributes" of the Patient
# and Study IEs included). tests/measure check every keyword against the packaged Annex E table.
PATIENT_LEVEL_PHI: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "EthnicGroup",
    "PatientComments",
)
STUDY_LEVEL_PHI: tuple[str, ...] = (
    *PATIENT_LEVEL_PHI,
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "AdditionalPatientHistory",
    "ReferringPhysicianName",
    "InstitutionName",
    "InstitutionAddress",
    "StudyDescription",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
)

# Return keys of a Modality Worklist C-FIND (PS3.4 K.6.1.2.2) that PS3.15 Annex E lists:
# on the top level of each answer, and inside its Scheduled Procedure Step Sequence item.
WORKLIST_PHI: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDs",
    "PatientAddress",
    "PatientWeight",
    "MedicalAlerts",
    "Allergies",
    "AdditionalPatientHistory",
    "AdmissionID",
    "CurrentPatientLocation",
    "AccessionNumber",
    "ReferringPhysicianName",
    "RequestingPhysician",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "ReasonForTheRequestedProcedure",
)
WORKLIST_STEP_PHI: tuple[str, ...] = (
    "ScheduledProcedureStepStartDate",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription",
    "ScheduledStationName",
    "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepID",
)

_CS = re.compile(rb"^[A-Z0-9_ ]{1,16}$")
MAX_MODALITY_CODES = 64
_TAGS: dict[str, int] = {}


def _tag(keyword: str) -> int:
    tag = _TAGS.get(keyword)
    if tag is None:
        from pydicom.datadict import tag_for_keyword

        found = tag_for_keyword(keyword)
        if found is None:
            raise KeyError(keyword)
        tag = _TAGS[keyword] = int(found)
    return tag


def raw_value(ds: Dataset, keyword: str) -> bytes | None:
    """The element's bytes, or None when absent; sequences give b"" or a non-empty marker."""
    try:
        elem = ds.get_item(_tag(keyword))
    except Exception:  # a malformed element counts as absent
        return None
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return value
    if value is None:
        return b""
    from pydicom.sequence import Sequence  # loaded by then: ``ds`` is pydicom's

    if isinstance(value, Sequence):
        return b"\x01" if len(value) else b""
    return str(value).encode("utf-8", "replace")


def first_item(ds: Dataset, keyword: str) -> Dataset | None:
    """The first item of a sequence, or None when absent, empty or undecodable (a hostile
    sequence counts as absent; nothing of it is raised or kept)."""
    try:
        elem = ds.get_item(_tag(keyword))
        if elem is None:
            return None
        value = ds[_tag(keyword)].value
    except Exception:
        return None
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    if isinstance(value, Sequence) and len(value) and isinstance(value[0], Dataset):
        return value[0]
    return None


def is_present(raw: bytes | None) -> bool:
    return raw is not None and raw.strip(b" \0") != b""


def study_year(raw: bytes | None) -> int | None:
    if raw is None or len(raw) < 4 or not raw[:4].isdigit():
        return None
    year = int(raw[:4])
    return year if 1900 <= year <= 2100 else None


def count_string(raw: bytes | None) -> int | None:
    """An IS value (Number of ... Related Instances) as an int, if it is a sane one."""
    if raw is None:
        return None
    text = raw.strip(b" \0")
    if not text.isdigit() or len(text) > 9:
        return None
    return int(text)


def modality_codes(raw: bytes | None) -> list[str]:
    if raw is None:
        return []
    codes = []
    for part in raw.split(b"\\"):
        part = part.strip(b" \0")
        if part and _CS.match(part):
            codes.append(part.decode("ascii"))
    return codes


class IdentifierTally(msgspec.Struct):
    hasher: KeyedHasher
    max_hashes: int = 100_000
    records: int = 0
    # Counts in defaultdicts: a Counter takes a microsecond to make, and a sweep makes
    # several per host.
    phi: defaultdict[str, int] = msgspec.field(default_factory=functools.partial(defaultdict, int))
    patient_hashes: set[str] = msgspec.field(default_factory=set)
    modalities: defaultdict[str, int] = msgspec.field(
        default_factory=functools.partial(defaultdict, int)
    )
    years: defaultdict[int, int] = msgspec.field(
        default_factory=functools.partial(defaultdict, int)
    )

    def add(self, ds: Dataset, phi_keys: tuple[str, ...]) -> None:
        """Count one identifier's non-empty PHI attributes and hash its Patient ID."""
        self.records += 1
        for keyword in phi_keys:
            if is_present(raw_value(ds, keyword)):
                self.phi[keyword] += 1
        pid = raw_value(ds, "PatientID")
        if is_present(pid) and len(self.patient_hashes) < self.max_hashes:
            assert pid is not None
            self.patient_hashes.add(self.hasher.hash(pid))

    def add_worklist_item(self, ds: Dataset) -> None:
        """One Worklist answer: its top-level PHI and that of its first Scheduled Procedure
        Step item (a worklist answer carries one step, PS3.4 K.6.1.2.2)."""
        self.add(ds, WORKLIST_PHI)
        step = first_item(ds, "ScheduledProcedureStepSequence")
        if step is not None:
            for keyword in WORKLIST_STEP_PHI:
                if is_present(raw_value(step, keyword)):
                    self.phi[keyword] += 1

    def add_study(self, ds: Dataset) -> None:
        year = study_year(raw_value(ds, "StudyDate"))
        if year is not None:
            self.years[year] += 1
        for code in set(modality_codes(raw_value(ds, "ModalitiesInStudy"))):
            if code in self.modalities or len(self.modalities) < MAX_MODALITY_CODES:
                self.modalities[code] += 1
