"""Recognise public demo data and honeypot contents among a server's studies.

Published exposure counts were inflated by teaching servers full of well-known sample studies
and by honeypots serving canned data. Study identifiers are compared in memory with the markers
of ``data/dicom_fingerprints.json`` (UID roots, sample patient names and IDs); what leaves is
only, per marker, how many studies matched.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from pacsaudit.intel.knowledge import DataMarker, knowledge
from pacsaudit.measure.identifiers import raw_value


def _text(ds: Dataset, keyword: str) -> str:
    raw = raw_value(ds, keyword)
    return raw.decode("latin-1").strip(" \0") if raw else ""


def _under(uid: str, root: str) -> bool:
    return uid == root or uid.startswith(root + ".")


def matches(marker: DataMarker, ds: Dataset) -> bool:
    uid = _text(ds, "StudyInstanceUID")
    if uid and (uid in marker.study_uids or any(_under(uid, r) for r in marker.uid_roots)):
        return True
    name = _text(ds, "PatientName")
    if name:
        upper = name.upper()
        if upper in marker.patient_names:
            return True
        if marker.patient_name_regex is not None and marker.patient_name_regex.match(name):
            return True
        if marker.patient_name_contains and marker.patient_name_contains.upper() in upper:
            return True
    pid = _text(ds, "PatientID")
    if pid and (
        pid in marker.patient_ids
        or (marker.patient_id_regex is not None and marker.patient_id_regex.match(pid))
    ):
        return True
    desc = _text(ds, "StudyDescription")
    return bool(
        desc
        and marker.study_description_contains
        and marker.study_description_contains.upper() in desc.upper()
    )


@dataclass
class MarkerTally:
    studies: int = 0
    hits: Counter[str] = field(default_factory=Counter)

    def add_study(self, ds: Dataset) -> None:
        self.studies += 1
        for marker in knowledge().markers:
            if matches(marker, ds):
                self.hits[marker.id] += 1
