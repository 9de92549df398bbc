"""Fleets: many addresses answering with the same identifiers *and* the same counts.

A hospital's archive holds its own patients; a thousand addresses that each hold exactly
25 patients, 60 studies and 295 images behind the same implementation identifiers are one
honeypot image deployed many times (or one server behind many addresses). Published exposure
counts were inflated by exactly that. This looks across findings, so it runs where all
findings are at hand: in the reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pacsaudit.model import DicomResult, Finding

MIN_FLEET = 3
"""Distinct addresses with identical fingerprints and counts before they are called a fleet."""


@dataclass(frozen=True, slots=True)
class FleetKey:
    implementation_class_uid: str | None
    implementation_version_name: str | None
    ae_policy: str
    accepted_contexts: tuple[str, ...]
    patients: int | None
    studies: int | None
    images: int | None


def fleet_key(finding: Finding) -> FleetKey | None:
    r = finding.result
    if not isinstance(r, DicomResult) or r.exposure is None:
        return None
    e = r.exposure
    if not (e.patients or e.studies or e.images):
        return None  # empty servers look alike without being one
    return FleetKey(
        r.implementation_class_uid,
        r.implementation_version_name,
        str(r.ae_policy),
        tuple(sorted(r.accepted_contexts)),
        e.patients,
        e.studies,
        e.images,
    )


def find_fleets(
    findings: Iterable[Finding], min_size: int = MIN_FLEET
) -> dict[tuple[str, int], str]:
    """(ip, port) → evidence, for every service in a fleet of ``min_size`` addresses or more."""
    groups: dict[FleetKey, list[tuple[str, int]]] = defaultdict(list)
    for f in findings:
        key = fleet_key(f)
        if key is not None:
            groups[key].append((f.ip, f.port))
    flagged: dict[tuple[str, int], str] = {}
    for key, members in groups.items():
        addresses = {ip for ip, _ in members}
        if len(addresses) < min_size:
            continue
        evidence = (
            f"{len(addresses)} addresses answer with identical identifiers and counts "
            f"({key.patients} patients, {key.studies} studies, {key.images} images)"
        )
        for member in members:
            flagged[member] = evidence
    return flagged
