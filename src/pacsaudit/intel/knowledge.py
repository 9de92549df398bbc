"""The fingerprint knowledge base, loaded once and compiled for matching.

The JSON file is the research record (every entry with its sources and a confidence); this
module keeps only what matching needs. Entries marked ``unverified`` are never used to name a
product, only kept in the file as leads.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import msgspec

DATA_FILE = "dicom_fingerprints.json"


class Implementation(msgspec.Struct, frozen=True):
    id: str
    toolkit: str
    uid_exact: frozenset[str]
    uid_prefix: str | None
    version_regex: re.Pattern[str] | None
    version_format: str
    max_pdu_length: int | None


class Cve(msgspec.Struct, frozen=True):
    id: str
    product: str
    introduced: str | None
    fixed_in: str | None
    last_affected: str | None
    affected_versions: frozenset[str]
    network_reachable: str
    summary: str
    scope: str = "server"
    """Which servers it is listed for (the data file's ``conventions.cve_scope``): ``server``,
    ``storage``, ``query-retrieve``, ``worklist``; ``client`` and ``local-tool`` never."""


class DataMarker(msgspec.Struct, frozen=True):
    """Markers of a public or canned data set (demo data, honeypot contents)."""

    id: str
    kind: str
    """``demo-data`` or ``honeypot``."""
    name: str
    uid_roots: tuple[str, ...]
    study_uids: frozenset[str]
    patient_names: frozenset[str]
    patient_ids: frozenset[str]
    patient_id_regex: re.Pattern[str] | None
    patient_name_regex: re.Pattern[str] | None
    patient_name_contains: str | None
    study_description_contains: str | None
    require_all: bool = False
    """Every criterion given must match (entries with a ``combination_rule``, e.g. DICOMHawk:
    TCIA's UID root alone is research data, together with hash-like Patient IDs a honeypot)."""


class ModalityIdentity(msgspec.Struct, frozen=True):
    """An Implementation Class UID read from files an acquisition device wrote (the data
    file's ``modalities``): the maker and the modality its equipment module named."""

    id: str
    vendor: str
    modality: str
    uid: str


class Knowledge(msgspec.Struct, frozen=True):
    implementations: tuple[Implementation, ...]
    cves: tuple[Cve, ...]
    markers: tuple[DataMarker, ...]
    modalities: tuple[ModalityIdentity, ...] = ()


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, dict):
        return tuple(str(v) for v in value.values())
    return tuple(str(v) for v in value)


def _implementation(e: dict[str, Any]) -> Implementation | None:
    if e.get("confidence") == "unverified":
        return None
    uid = e.get("implementation_class_uid") or {}
    version = e.get("version_name") or {}
    exact = _strings(uid.get("exact"))
    prefix = uid.get("prefix")
    if not exact and not prefix:
        return None
    regex = version.get("regex")
    return Implementation(
        id=e["id"],
        toolkit=e.get("toolkit") or e["id"],
        uid_exact=frozenset(exact),
        uid_prefix=prefix,
        version_regex=re.compile(regex) if regex else None,
        version_format=version.get("version_format", "{0}"),
        max_pdu_length=(e.get("defaults") or {}).get("max_pdu_length"),
    )


def _cve(e: dict[str, Any]) -> Cve:
    affected = e.get("affected") or {}
    return Cve(
        id=e["id"],
        product=e["product"],
        introduced=affected.get("introduced"),
        fixed_in=affected.get("fixed_in"),
        last_affected=affected.get("last_affected"),
        affected_versions=frozenset(affected.get("affected_versions") or ()),
        network_reachable=str(e.get("network_reachable") or ""),
        summary=str(e.get("summary") or ""),
        scope=str(e.get("scope") or "server"),
    )


GENERIC_UID_ROOTS = frozenset(
    {
        "2.25",  # any UUID-derived UID (PS3.5 B.2): real systems use it too
        "1.2.276.0.7230010.3.1",  # DCMTK's default site root: UIDs Orthanc and DCMTK make
        "1.2.826.0.1.3680043.8.498",  # pydicom's generate_uid() root: research pipelines
    }
)
"""Roots too common in real data to mark a data set by themselves."""


def _marker(e: dict[str, Any]) -> DataMarker:
    m = e.get("match") or {}
    flags = re.IGNORECASE if "case-insensitive" in str(m.get("flags", "")) else 0
    roots = tuple(
        r
        for r in _strings(m.get("uid_root")) + _strings(m.get("uid_roots"))
        if r not in GENERIC_UID_ROOTS
    )
    return DataMarker(
        id=e["id"],
        kind=e.get("kind", "demo-data"),
        name=e.get("name", e["id"]),
        uid_roots=roots,
        study_uids=frozenset(_strings(m.get("study_uid_exact"))),
        patient_names=frozenset(n.upper() for n in _strings(m.get("patient_name_exact"))),
        patient_ids=frozenset(_strings(m.get("patient_id_exact"))),
        patient_id_regex=re.compile(m["patient_id_regex"]) if m.get("patient_id_regex") else None,
        patient_name_regex=re.compile(m["patient_name_regex"], flags)
        if m.get("patient_name_regex")
        else None,
        patient_name_contains=m.get("patient_name_contains"),
        study_description_contains=m.get("study_description_contains"),
        require_all="combination_rule" in m,
    )


@cache
def knowledge() -> Knowledge:
    raw = json.loads(resources.files("pacsaudit.data").joinpath(DATA_FILE).read_text("utf-8"))
    impls = [i for i in (_implementation(e) for e in raw["implementations"]) if i is not None]
    return Knowledge(
        implementations=tuple(impls),
        cves=tuple(_cve(e) for e in raw["cves"]),
        markers=tuple(_marker(e) for e in raw["demo_data"]),
        modalities=tuple(
            ModalityIdentity(e["id"], e["vendor"], e["modality"], e["uid_exact"])
            for e in raw["modalities"]
            if e["confidence"] != "unverified"
        ),
    )


def modality_identity(class_uid: str | None) -> ModalityIdentity | None:
    """The acquisition device whose Implementation Class UID this is, if one is listed."""
    if class_uid is None:
        return None
    return _modalities_by_uid().get(class_uid)


@cache
def _modalities_by_uid() -> dict[str, ModalityIdentity]:
    """The listed devices by UID, the first listed winning (every finding asks, twice)."""
    by_uid: dict[str, ModalityIdentity] = {}
    for m in knowledge().modalities:
        by_uid.setdefault(m.uid, m)
    return by_uid
