"""Recognise public demo data and honeypot contents among a server's studies.

Published exposure counts were inflated by teaching servers full of well-known sample studies
and by honeypots serving canned data. Study identifiers are compared in memory with the markers
of ``data/dicom_fingerprints.json`` (UID roots, sample patient names and IDs); what leaves is
only, per marker, how many studies matched.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import TYPE_CHECKING

import msgspec

from pacsaudit.intel.knowledge import DataMarker, knowledge
from pacsaudit.measure.identifiers import raw_value

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


def _text(ds: Dataset, keyword: str) -> str:
    raw = raw_value(ds, keyword)
    return raw.decode("latin-1").strip(" \0") if raw else ""


def _under(uid: str, root: str) -> bool:
    return uid == root or uid.startswith(root + ".")


def matches(marker: DataMarker, ds: Dataset) -> bool:
    uid = _text(ds, "StudyInstanceUID")
    name = _text(ds, "PatientName")
    pid = _text(ds, "PatientID")
    desc = _text(ds, "StudyDescription")
    upper = name.upper()
    checks: list[bool] = []
    if marker.study_uids or marker.uid_roots:
        checks.append(
            bool(uid)
            and (uid in marker.study_uids or any(_under(uid, r) for r in marker.uid_roots))
        )
    if marker.patient_names:
        checks.append(upper in marker.patient_names)
    if marker.patient_name_regex is not None:
        checks.append(bool(name) and marker.patient_name_regex.match(name) is not None)
    if marker.patient_name_contains:
        checks.append(marker.patient_name_contains.upper() in upper)
    if marker.patient_ids:
        checks.append(pid in marker.patient_ids)
    if marker.patient_id_regex is not None:
        checks.append(bool(pid) and marker.patient_id_regex.match(pid) is not None)
    if marker.study_description_contains:
        checks.append(marker.study_description_contains.upper() in desc.upper())
    if not checks:
        return False
    return all(checks) if marker.require_all else any(checks)


class MarkerTally(msgspec.Struct):
    studies: int = 0
    hits: defaultdict[str, int] = msgspec.field(default_factory=functools.partial(defaultdict, int))

    def add_study(self, ds: Dataset) -> None:
        self.studies += 1
        for marker in knowledge().markers:
            if matches(marker, ds):
                self.hits[marker.id] += 1
