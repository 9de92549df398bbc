"""Synthetic scan results with totals worked out by hand, for the reporter tests.

Findings are built from the real model classes (``pacsaudit.model``) and encoded as the scanner
encodes them; fields the model does not have yet (``product``, ``cves``, ``flags``) are added
to the encoded JSON, as a newer scanner would write them.

Addresses: the public ones sit in long-standing registry allocations (53/8 in DE, 17/8 and 12/8
in the US, 133.11/16 in JP) so the offline country lookup has something to find. They are data
only: no test connects to them (tests/conftest.py would fail any attempt). Patient ID hashes are
random-looking hex made from a counter, not from any identifier.

Expected values below are counted by hand from the tables in this file, not computed by the
code under test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from pacsaudit.model import (
    AePolicy,
    Certificate,
    DicomResult,
    Exposure,
    ExposureClass,
    Finding,
    MoveCheck,
    Retrieval,
    Severity,
    Status,
    TlsInfo,
)

KEY = "5eedfeed01234567"
OTHER_KEY = "0ddba11c0ffee000"
TS_NEW = "2026-09-01T10:00:00.000Z"
TS_OLD = "2026-03-01T10:00:00.000Z"


def h(i: int) -> str:
    """A synthetic 64-bit keyed-hash-like value (hex), distinct per ``i``."""
    return hashlib.blake2b(f"synthetic-patient-{i}".encode(), digest_size=8).hexdigest()


def hs(start: int, stop: int) -> list[str]:
    return [h(i) for i in range(start, stop)]


SEV = {
    "phi-readable": Severity.CRITICAL,
    "retrievable": Severity.HIGH,
    "open-association": Severity.MEDIUM,
    "ae-enforced": Severity.LOW,
}


@dataclass
class Svc:
    """One service row of a fixture table."""

    ip: str
    port: int
    cls: str | None = None
    patients: int | None = None
    studies: int | None = None
    images: int | None = None
    patients_lb: bool = False
    images_lb: bool = False
    phi: dict[str, int] = field(default_factory=dict)
    hashes: list[str] = field(default_factory=list)
    key: str = KEY
    toolkit: tuple[str, str] | None = ("DCMTK", "3.6.7")
    ae_policy: AePolicy = AePolicy.ANY_CALLED_AE
    accepted_ae: str | None = None
    host: str | None = None
    tls: bool = False
    move: MoveCheck = MoveCheck.NOT_TESTED
    get: bool = False
    status: Status = Status.DICOM
    timestamp: str = TS_NEW
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields a newer model adds to ``result`` (product, cves, flags)."""


def finding(s: Svc) -> dict[str, Any]:
    if s.status is not Status.DICOM:
        f = Finding(ip=s.ip, port=s.port, protocol="dicom", status=s.status, timestamp=s.timestamp)
        return msgspec.to_builtins(f)  # type: ignore[no-any-return]
    exposure = None
    if s.patients is not None or s.studies is not None or s.phi:
        exposure = Exposure(
            patients=s.patients,
            patients_lower_bound=s.patients_lb,
            studies=s.studies,
            images=s.images,
            images_lower_bound=s.images_lb,
            phi_attributes=s.phi,
            distinct_patients=len(s.hashes),
            patient_id_hashes=s.hashes,
            hash_key_id=s.key if s.hashes else None,
        )
    tls = None
    if s.tls:
        cert = Certificate(
            subject="CN=synthetic-pacs,O=Synthetic Hospital",
            issuer="CN=synthetic-pacs,O=Synthetic Hospital",
            self_signed=True,
            not_before="2026-01-01T00:00:00Z",
            not_after="2027-01-01T00:00:00Z",
            expired=False,
            sha256="ab" * 32,
            serial="01",
        )
        tls = TlsInfo(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", certificate=cert)
    cls = ExposureClass(s.cls) if s.cls else None
    result = DicomResult(
        tls=tls,
        ae_policy=s.ae_policy,
        accepted_called_ae=s.accepted_ae or ("PA0123456789AB" if s.cls != "ae-enforced" else None),
        toolkit=s.toolkit[0] if s.toolkit else None,
        toolkit_version=s.toolkit[1] if s.toolkit else None,
        accepted_contexts=["Verification"] if s.cls != "ae-enforced" else [],
        exposure=exposure,
        retrieval=Retrieval(
            get_accepted=s.get, move_accepted=s.move is not MoveCheck.NOT_TESTED, move_check=s.move
        ),
        exposure_class=cls,
        severity=SEV[s.cls] if s.cls else None,
    )
    f = Finding(
        ip=s.ip,
        port=s.port,
        protocol="dicom",
        status=s.status,
        timestamp=s.timestamp,
        result=result,
        host=s.host,
        duration_ms=12.5,
    )
    out: dict[str, Any] = msgspec.to_builtins(f)
    out["result"].update(s.extra)
    return out


def enforced(ip: str, port: int, **kw: Any) -> Svc:
    return Svc(ip, port, "ae-enforced", ae_policy=AePolicy.CALLED_AE_ENFORCED, **kw)


# The new scan: 13 services counted, 1 honeypot set apart, 2 records that are not services.
NEW: list[Svc] = [
    # DE: 5 services, 4 exposed; patients 15, studies 31, images ≥140
    Svc(
        "53.10.0.1",
        104,
        "phi-readable",
        10,
        20,
        100,
        phi={"PatientName": 10, "PatientID": 10, "PatientBirthDate": 10},
        hashes=hs(0, 10),
        move=MoveCheck.DESTINATION_UNKNOWN,
        host="pacs.de-hospital.example",
    ),
    Svc(
        "53.10.0.2",
        11112,
        "phi-readable",
        5,
        8,
        40,
        images_lb=True,
        phi={"PatientName": 5, "PatientID": 5},
        hashes=hs(5, 10),
    ),
    Svc("53.10.0.3", 4242, "retrievable", None, 3, None, get=True, toolkit=("pynetdicom", "3.0.4")),
    enforced("53.10.0.4", 104),
    Svc("53.10.0.5", 2762, "open-association", tls=True),
    # US: 6 services, 3 exposed; patients ≥27, studies 37, images 370
    Svc(
        "17.1.0.1",
        104,
        "phi-readable",
        20,
        30,
        300,
        patients_lb=True,
        phi={"PatientName": 20, "PatientID": 20, "ReferringPhysicianName": 30},
        hashes=hs(100, 120),
        toolkit=("DCMTK", "3.6.6"),
        extra={"cves": ["CVE-2022-2121", "CVE-2022-43272"]},
    ),
    Svc("17.1.0.2", 104, "open-association", toolkit=("pynetdicom", "3.0.4")),
    enforced("17.1.0.3", 11112),
    enforced("17.1.0.4", 11112),
    enforced("17.1.0.5", 104, toolkit=None),
    Svc(
        "17.1.0.6",
        4242,
        "phi-readable",
        7,
        7,
        70,
        phi={"PatientName": 7, "PatientID": 7},
        hashes=hs(0, 7),
    ),
    # JP: 1 service, a host name and a custom AE title that must never reach a public release
    Svc(
        "133.11.0.1",
        104,
        "phi-readable",
        3,
        3,
        9,
        phi={"PatientName": 3},
        hashes=hs(200, 203),
        ae_policy=AePolicy.GUESSABLE,
        accepted_ae="JPPACS01",
        host="pacs.jp-clinic.example",
    ),
    # local: 1 service and 2 records that are no service
    Svc(
        "10.20.0.5",
        104,
        "phi-readable",
        2,
        2,
        4,
        phi={"PatientName": 2, "PatientID": 2},
        hashes=hs(300, 302),
        toolkit=("pynetdicom", "3.0.4"),
        host="pacs.internal.example",
    ),
    Svc("127.0.0.1", 2761, status=Status.CLOSED),
    Svc("127.0.0.1", 8042, status=Status.OPEN_NOT_DICOM),
    # a honeypot: counted apart, never in the totals
    Svc(
        "12.0.0.9",
        104,
        "phi-readable",
        1000,
        1000,
        5000,
        phi={"PatientName": 1000},
        hashes=hs(900, 1000),
        extra={"flags": [{"kind": "likely-honeypot", "evidence": "answers every AE title"}]},
    ),
]

NEW_TOTALS = {"services": 13, "exposed": 9, "patients": 47, "studies": 73, "images": 523}
NEW_DISTINCT = 35  # hs(0,10) ∪ hs(100,120) ∪ hs(200,203) ∪ hs(300,302)

# The old scan, six months earlier.
OLD: list[Svc] = [
    Svc(
        "53.10.0.1",
        104,
        "phi-readable",
        8,
        16,
        80,
        phi={"PatientName": 8},
        hashes=hs(0, 8),
        timestamp=TS_OLD,
    ),
    Svc(
        "53.10.0.7",
        104,
        "phi-readable",
        6,
        6,
        60,
        phi={"PatientName": 6},
        hashes=hs(500, 506),
        timestamp=TS_OLD,
    ),
    Svc(
        "53.10.0.4",
        104,
        "phi-readable",
        4,
        4,
        40,
        phi={"PatientName": 4},
        hashes=hs(400, 404),
        timestamp=TS_OLD,
    ),
    Svc(
        "17.1.0.1",
        104,
        "phi-readable",
        20,
        30,
        300,
        patients_lb=True,
        phi={"PatientName": 20},
        hashes=hs(100, 120),
        timestamp=TS_OLD,
    ),
    enforced("17.1.0.3", 11112, timestamp=TS_OLD),
]
OLD_TOTALS = {"patients": 38, "studies": 56, "images": 480}


def lines(services: list[Svc]) -> list[bytes]:
    return [msgspec.json.encode(finding(s)) for s in services]


def write(path: Path, services: list[Svc]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines(services)))
    return path


def identifiers(services: list[Svc]) -> set[str]:
    """Every address, host name, AE title, hash and key id: none may reach a public release."""
    out: set[str] = set()
    for s in services:
        out.add(s.ip)
        out |= set(s.hashes)
        if s.hashes:
            out.add(s.key)
        for value in (s.host, s.accepted_ae):
            if value:
                out.add(value)
    out.add("PA0123456789AB")
    return out


def write_new(directory: Path) -> Path:
    return write(directory / "new.jsonl", NEW)


def write_old(directory: Path) -> Path:
    return write(directory / "old.jsonl", OLD)
