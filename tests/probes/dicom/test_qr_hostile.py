"""Issue 3's bad input: Q/R servers that never end, lie about message IDs, send malformed or
huge identifiers — bounded, recorded with a structured error, partial counts kept; and the
honeypot tells of a dicompot-like acceptor."""

from __future__ import annotations

import asyncio
import time

import pytest

from hostile_servers import PeerServer
from pacsaudit.measure.classify import classify
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import DicomResult, ErrorKind, Finding, FlagKind, Status
from pacsaudit.probes.dicom.exposure import ExposureOptions
from pacsaudit.probes.dicom.probe import Depth, DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target
from qr_servers import (
    FindBehaviour,
    endless_pending,
    fixed_studies,
    huge_identifier,
    ignores_keys,
    malformed_identifier,
    qr_server,
    refuses,
    wrong_message_id,
)

BUDGET = 4.0


def options(**changes: object) -> DicomOptions:
    base: dict[str, object] = {
        "depth": Depth.EXPOSURE,
        "hasher": KeyedHasher(b"h" * 32),
        "budget": BUDGET,
        "read_timeout": 1.0,
        "tls_ports": frozenset(),
        "exposure": ExposureOptions(max_records=50, reserve=0.5),
    }
    base.update(changes)
    return DicomOptions(**base)  # type: ignore[arg-type]


async def scan(behaviour: FindBehaviour, **accept: object) -> tuple[Finding, float]:
    async with PeerServer(qr_server(behaviour, **accept)) as server:
        started = time.monotonic()
        finding = classify(await DicomProbe(options()).scan(Target("127.0.0.1", server.port)))
        return finding, time.monotonic() - started


def result(f: Finding) -> DicomResult:
    assert f.status is Status.DICOM, f
    assert isinstance(f.result, DicomResult)
    return f.result


def test_endless_pending_is_cancelled_and_bounded() -> None:
    f, elapsed = asyncio.run(scan(endless_pending))
    r = result(f)
    assert elapsed < BUDGET + 1
    assert r.exposure is not None
    assert r.exposure.patients == 50  # max_records, then C-CANCEL (ignored by this peer)
    assert r.exposure.patients_lower_bound is True
    assert r.exposure.error is not None
    assert r.exposure.error.kind in {ErrorKind.PROTOCOL_VIOLATION, ErrorKind.READ_TIMEOUT}


@pytest.mark.parametrize(
    ("behaviour", "detail"),
    [
        (wrong_message_id, "wrong-message-id"),
        (malformed_identifier, "invalid-identifier"),
        (huge_identifier, "oversized-message"),
    ],
)
def test_broken_answers_are_recorded(behaviour: FindBehaviour, detail: str) -> None:
    f, elapsed = asyncio.run(scan(behaviour))
    r = result(f)
    assert elapsed < BUDGET + 1
    assert r.exposure is not None
    assert r.exposure.error is not None
    assert r.exposure.error.kind is ErrorKind.PROTOCOL_VIOLATION
    assert r.exposure.error.detail == detail
    # The association itself was accepted and echoed before the query broke.
    assert r.echo_status == 0
    assert r.attempts[0].released is None  # no release on a connection in an unknown state


def test_malformed_second_identifier_keeps_the_first() -> None:
    f, _ = asyncio.run(scan(malformed_identifier))
    r = result(f)
    assert r.exposure is not None
    assert r.exposure.records_examined == 1
    assert r.exposure.phi_attributes.get("PatientName") == 1


def test_error_text_carries_no_value_from_the_peer() -> None:
    f, _ = asyncio.run(scan(malformed_identifier))
    text = f"{f!r}"
    assert "Hostile" not in text
    assert "HOST00000" not in text


def test_dicompot_like_acceptor_is_flagged() -> None:
    """No Implementation Class UID, max PDU 4 MiB, every context accepted (dicompot)."""
    f, _ = asyncio.run(scan(fixed_studies(3), class_uid=None, version=None, max_length=4_194_304))
    r = result(f)
    assert r.accepts_unknown_sop_class is True
    kinds = [flag.kind for flag in r.flags]
    assert kinds.count(FlagKind.LIKELY_HONEYPOT) >= 2
    assert r.toolkit is None


def test_demo_data_is_flagged() -> None:
    """Studies under the TCIA curation root: public research data, not a hospital's."""
    f, _ = asyncio.run(scan(fixed_studies(4, uid_root="1.3.6.1.4.1.14519.5.2.1.7695")))
    r = result(f)
    demo = [flag for flag in r.flags if flag.kind is FlagKind.DEMO_DATA]
    assert [flag.source for flag in demo] == ["tcia"]
    assert "4 of 4 studies" in demo[0].evidence


def test_a_refused_find_is_unknown_with_its_reason_never_zero() -> None:
    f, _ = asyncio.run(scan(refuses(0xA700)))
    e = result(f).exposure
    assert e is not None
    assert (e.patients, e.studies, e.images) == (None, None, None)
    assert e.unknown == {
        "patients": "refused-A700",
        "studies": "refused-A700",
        "images": "refused-A700",
    }


def test_an_empty_answer_is_a_real_zero() -> None:
    f, _ = asyncio.run(scan(fixed_studies(0)))
    e = result(f).exposure
    assert e is not None
    assert (e.patients, e.studies, e.images) == (0, 0, 0)
    assert e.unknown == {}


def test_answers_outside_the_queried_study_are_not_counted() -> None:
    """A server answering every SERIES and IMAGE query with all it holds: 2 studies of 2
    series of 2 images are 4 series and 8 images, not 8 series and 64 images."""
    finding, _ = asyncio.run(scan(ignores_keys(studies=2, series=2, images=2)))
    r = classify(finding).result
    assert isinstance(r, DicomResult)
    assert r.exposure is not None
    assert r.exposure.studies == 2
    assert r.exposure.series == 4
    assert r.exposure.images == 8
    assert r.exposure.images_source == "image-query"
    assert not r.exposure.images_lower_bound
    # per study query, 2 series of the other study; per series query, 6 images of the others
    assert r.exposure.non_conforming == 2 * 2 + 4 * 6
    assert FlagKind.NON_CONFORMING in [f.kind for f in r.flags]  # (it accepts all: promiscuous too)
