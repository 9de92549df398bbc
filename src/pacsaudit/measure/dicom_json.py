"""What may leave the process of a web API's answer about studies: counts, years, codes, hashes.

Two shapes arrive here: DICOM JSON objects from QIDO-RS (PS3.18 F.2: keys are tags such as
``"00100010"``, values sit in ``"Value"``) and Orthanc's REST study objects (DICOM keywords in
``MainDicomTags`` and ``PatientMainDicomTags``). Both are reduced exactly as the DICOM probe
reduces a C-FIND identifier (:class:`~pacsaudit.measure.identifiers.IdentifierTally`): per
PS3.15 Annex E attribute, whether the record carried a non-empty value; Patient ID only as a
keyed hash; study dates only as years; modalities only as CS code strings. Values are looked at
to decide "empty or not" and dropped. Malformed input is skipped without a word, so no message
can carry a peer's text.

UIDs (VR UI) are not counted although Annex E lists them: they identify objects, not people, and
the DICOM probe does not count them either — so ``phi_attributes`` mean the same on both.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR, tag_for_keyword

from pacsaudit.measure.annex_e import load_table
from pacsaudit.measure.identifiers import (
    MAX_MODALITY_CODES,
    STUDY_LEVEL_PHI,
    modality_codes,
    study_year,
)
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import ErrorInfo, Exposure, QueryStats

PATIENT_ID = 0x00100020
STUDY_DATE = 0x00080020
STUDY_UID = 0x0020000D
MODALITIES_IN_STUDY = 0x00080061
STUDY_RELATED_INSTANCES = 0x00201208
MAX_VALUE_ITEMS = 64
"""Items of one multi-valued element looked at before it is judged (a hostile server may send
millions)."""
MAX_DEPTH = 32
"""Levels of nested values looked into (sequences in sequences); PS3.3 needs far fewer."""
MAX_STRING = 1024
"""Longest identifier (Patient ID, Study UID) hashed; longer values are malformed anyway."""


def tag_list(keywords: Iterable[str] = STUDY_LEVEL_PHI) -> list[str]:
    """The attributes a QIDO-RS ``includefield`` should ask for, as 8-digit hex tags."""
    tags = []
    for kw in keywords:
        tag = tag_for_keyword(kw)
        if tag is not None:
            tags.append(f"{tag:08X}")
    return tags


@functools.cache
def _is_uid(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "UI"
    except KeyError:
        return False


@functools.cache
def _keyword_tag(keyword: str) -> int | None:
    tag = tag_for_keyword(keyword)
    return int(tag) if tag is not None else None


def _nonblank(value: object, depth: int = 0) -> bool:
    """True for a value that carries information; never copies it anywhere. Nesting deeper
    than :data:`MAX_DEPTH` is not followed (hostile JSON), and judged empty."""
    if isinstance(value, str):
        return bool(value.strip(" \x00"))
    if isinstance(value, bool | int | float):
        return True
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, Mapping):  # a PN value ({"Alphabetic": ...}) or a sequence item
        return any(_nonblank(v, depth + 1) for v in list(value.values())[:MAX_VALUE_ITEMS])
    if isinstance(value, list):
        return any(_nonblank(v, depth + 1) for v in value[:MAX_VALUE_ITEMS])
    return False


def element_present(element: object) -> bool:
    """A DICOM JSON element (``{"vr": .., "Value": [..]}``) with a non-empty value."""
    if not isinstance(element, Mapping):
        return False
    value = element.get("Value")
    if isinstance(value, list) and _nonblank(value):
        return True
    for key in ("InlineBinary", "BulkDataURI"):
        if isinstance(element.get(key), str) and element[key].strip():
            return True
    return False


def _first_string(element: object) -> bytes | None:
    if not isinstance(element, Mapping):
        return None
    value = element.get("Value")
    if not isinstance(value, list) or not value:
        return None
    first = value[0]
    if isinstance(first, int | float) and not isinstance(first, bool):
        first = str(first)
    if not isinstance(first, str) or len(first) > MAX_STRING:
        return None
    return first.encode("utf-8", "replace")


def _parse_tag(key: object) -> int | None:
    if not isinstance(key, str) or len(key) != 8:
        return None
    try:
        return int(key, 16)
    except ValueError:
        return None


@dataclass
class JsonTally:
    """Counts over study records; holds no value from them (study UIDs only as in-memory
    digests, to count each study once however often a hostile server repeats it)."""

    hasher: KeyedHasher | None = None
    max_hashes: int = 100_000
    records: int = 0
    phi: Counter[str] = field(default_factory=Counter)
    patient_hashes: set[str] = field(default_factory=set)
    study_digests: set[bytes] = field(default_factory=set)
    modalities: Counter[str] = field(default_factory=Counter)
    years: Counter[int] = field(default_factory=Counter)
    instances: int = 0
    instances_missing: int = 0
    """Records without a usable Number of Study Related Instances."""

    def add_dicom_json(self, record: object) -> bool:
        """Count one QIDO-RS study object; False (and nothing counted) when it is not one."""
        if not isinstance(record, Mapping):
            return False
        table = load_table()
        self.records += 1
        for key, element in list(record.items())[:4096]:
            tag = _parse_tag(key)
            if tag is None or _is_uid(tag):
                continue
            attr = table.lookup(tag)
            if attr is not None and element_present(element):
                self.phi[attr.keyword] += 1
        self._identify(
            patient_id=_first_string(record.get(f"{PATIENT_ID:08X}")),
            study_uid=_first_string(record.get(f"{STUDY_UID:08X}")),
            study_date=_first_string(record.get(f"{STUDY_DATE:08X}")),
            modalities=_modalities(record.get(f"{MODALITIES_IN_STUDY:08X}")),
            instances=_first_string(record.get(f"{STUDY_RELATED_INSTANCES:08X}")),
        )
        return True

    def add_orthanc_study(self, record: object) -> bool:
        """Count one study of Orthanc's ``/studies?expand`` (keywords, not tags)."""
        if not isinstance(record, Mapping):
            return False
        main = record.get("MainDicomTags")
        patient = record.get("PatientMainDicomTags")
        if not isinstance(main, Mapping) and not isinstance(patient, Mapping):
            return False
        table = load_table()
        self.records += 1
        tags: dict[str, object] = {}
        for group in (patient, main):
            if isinstance(group, Mapping):
                for key, value in list(group.items())[:4096]:
                    if isinstance(key, str):
                        tags[key] = value
        for keyword, value in tags.items():
            tag = _keyword_tag(keyword)
            if tag is None or _is_uid(tag):
                continue
            attr = table.lookup(tag)
            if attr is not None and _nonblank(value):
                self.phi[attr.keyword] += 1

        def text(keyword: str) -> bytes | None:
            value = tags.get(keyword)
            if not isinstance(value, str) or len(value) > MAX_STRING:
                return None
            return value.encode("utf-8", "replace")

        codes = text("ModalitiesInStudy")
        self._identify(
            patient_id=text("PatientID"),
            study_uid=text("StudyInstanceUID"),
            study_date=text("StudyDate"),
            modalities=codes,
            instances=None,
        )
        return True

    def _identify(
        self,
        *,
        patient_id: bytes | None,
        study_uid: bytes | None,
        study_date: bytes | None,
        modalities: bytes | None,
        instances: bytes | None,
    ) -> None:
        if patient_id is not None and patient_id.strip(b" \x00"):
            if self.hasher is not None and len(self.patient_hashes) < self.max_hashes:
                self.patient_hashes.add(self.hasher.hash(patient_id))
            elif self.hasher is None and len(self.patient_hashes) < self.max_hashes:
                # Without a key nothing is written; an unkeyed digest only counts, in memory.
                self.patient_hashes.add(hashlib.blake2b(patient_id, digest_size=8).hexdigest())
        if study_uid is not None and study_uid.strip(b" \x00"):
            digest = hashlib.blake2b(study_uid, digest_size=8).digest()
            if digest in self.study_digests:
                return  # a study seen before: its years, modalities, instances are counted
            self.study_digests.add(digest)
        year = study_year(study_date)
        if year is not None:
            self.years[year] += 1
        for code in set(modality_codes(modalities)):
            if code in self.modalities or len(self.modalities) < MAX_MODALITY_CODES:
                self.modalities[code] += 1
        count = _count(instances)
        if count is None:
            self.instances_missing += 1
        else:
            self.instances += count

    @property
    def studies(self) -> int:
        """Distinct studies: by UID where the records carry one, else by record."""
        return len(self.study_digests) if self.study_digests else self.records

    def exposure(
        self,
        *,
        queries: list[QueryStats],
        lower_bound: bool,
        error: ErrorInfo | None = None,
    ) -> Exposure:
        keyed = self.hasher is not None
        images_known = self.records > 0 and self.instances_missing == 0
        return Exposure(
            patients=len(self.patient_hashes),
            patients_lower_bound=lower_bound,
            studies=self.studies,
            studies_lower_bound=lower_bound,
            images=self.instances if images_known else None,
            images_lower_bound=lower_bound and images_known,
            images_source="study-related-instances" if images_known else None,
            modalities=dict(sorted(self.modalities.items())),
            study_years={str(y): n for y, n in sorted(self.years.items())},
            phi_attributes=dict(sorted(self.phi.items())),
            records_examined=self.records,
            distinct_patients=len(self.patient_hashes),
            patient_id_hashes=sorted(self.patient_hashes) if keyed else [],
            hash_key_id=self.hasher.key_id if self.hasher is not None else None,
            queries=queries,
            error=error,
        )


def _modalities(element: object) -> bytes | None:
    """Modalities in Study as the backslash-joined bytes :func:`modality_codes` parses."""
    if not isinstance(element, Mapping):
        return None
    value = element.get("Value")
    if not isinstance(value, list):
        return None
    parts = [v for v in value[:MAX_VALUE_ITEMS] if isinstance(v, str) and len(v) <= 16]
    return "\\".join(parts).encode("ascii", "replace") if parts else None


def _count(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip(b" \x00")
    if not text.isdigit() or len(text) > 9:
        return None
    return int(text)
