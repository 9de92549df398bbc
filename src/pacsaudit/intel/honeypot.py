"""Honeypot signals that need more than identifiers: behaviour, timing and personas.

:func:`pacsaudit.intel.identify.judge` knows the tells that are enough on their own (dicompot's
missing Implementation Class UID with its 4 MiB PDU, DICOMHawk's ORTHANC version name on a
pynetdicom UID). The signals here are weaker one by one — a busy server can answer late, a
vendor may keep a toolkit's default PDU size — so the classify stage calls a service a likely
honeypot only where two of them agree (or one joins a strong tell), and otherwise names each
in a ``honeypot-signal`` flag. Sources: ``data/dicom_fingerprints.json`` → ``honeypots``
(dicompot's ``-enforce`` path, DICOMHawk's ``vendor_personas``).
"""

from __future__ import annotations

import functools

from pacsaudit.intel.knowledge import modality_identity
from pacsaudit.model import AssociationOutcome, DicomResult

LATE_REJECT_MS = 3_000.0
"""An A-ASSOCIATE-RJ this long after our request is deliberate: DICOM servers reject at once
(dicompot waits ~5 s before rejecting an unknown called AE title)."""
VENDOR_ROOTS = {
    "1.2.840.113619": "GE",
    "1.3.12.2.1107": "Siemens",
    "1.3.46.670589": "Philips",
    "1.2.840.113845": "Fujifilm",
}
"""Vendors' UID roots that DICOMHawk's personas borrow (``vendor_personas``, profiles)."""
PERSONAS = {
    ("1.2.840.113619.6.96", "GE_PACS_REV_24"): "DICOMHawk's ge_ct persona",
    ("1.3.12.2.1107.5.2", "syngo CT VA48A"): "DICOMHawk's siemens_ct persona",
    ("1.3.46.670589.11", "PHILIPS_MR_56.1"): "DICOMHawk's philips_mr persona",
    ("1.2.840.113845.1.1", "Syn7,3,0,1"): "DICOMHawk's fujifilm profile",
}
TOOLKIT_PDUS = {16_382: "pynetdicom's default max PDU 16382", 65_536: "DICOMHawk's max PDU 65536"}
_DICOMPOT_REJECT = (1, 2, 2)
"""rejected-permanent, service-provider ACSE, protocol version not supported."""


def honeypot_signals(result: DicomResult) -> list[str]:
    """Each signal in words, with the measured value."""
    found: list[str] = []
    for a in result.attempts:
        if a.outcome is not AssociationOutcome.REJECTED or a.reject is None:
            continue
        if a.answer_ms is not None and a.answer_ms >= LATE_REJECT_MS:
            found.append(
                f"A-ASSOCIATE-RJ {a.answer_ms / 1000:.1f} s after our request: a deliberate "
                "delay (dicompot waits ~5 s before rejecting an unknown AE title)"
            )
        codes = (a.reject.result_code, a.reject.source_code, a.reject.reason_code)
        if codes == _DICOMPOT_REJECT:
            found.append(
                "a called AE title rejected as 'protocol version not supported' (RJ 1/2/2, "
                "dicompot -enforce; servers say reason 7)"
            )
        if len(found) >= 2:
            break
    found += _persona(result)
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=1024)
def _vendor_root(uid: str) -> str | None:
    """The maker whose UID root ``uid`` is under (read once per kind of server)."""
    return next((v for root, v in VENDOR_ROOTS.items() if uid.startswith(root + ".")), None)


def _persona(result: DicomResult) -> list[str]:
    uid, name = result.implementation_class_uid, result.implementation_version_name
    if uid is None:
        return []
    found = []
    persona = PERSONAS.get((uid, (name or "").strip()))
    if persona is not None:
        found.append(f"identifiers {uid} / {name} are exactly {persona}")
    vendor = _vendor_root(uid)
    device = modality_identity(uid)  # a maker's own device UID (data file: modalities)
    if vendor is None and device is not None:
        vendor = device.vendor
    accepted = next((a for a in result.attempts if a.outcome is AssociationOutcome.ACCEPTED), None)
    pdu = accepted.max_pdu_length if accepted else None
    if vendor is not None and pdu in TOOLKIT_PDUS:
        found.append(f"{vendor} implementation class UID with {TOOLKIT_PDUS[pdu]}")
    return found
