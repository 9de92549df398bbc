"""Exposure depth against the real lab servers: exact counts, bounds, retrieval, keyed hashes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.manager import LabInfo
from pacsaudit.measure.classify import classify
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import (
    DicomResult,
    Exposure,
    ExposureClass,
    Finding,
    MoveCheck,
    Severity,
    Status,
)
from pacsaudit.probes.dicom.exposure import ExposureOptions
from pacsaudit.probes.dicom.probe import Depth, DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target

HASHER = KeyedHasher(bytes(range(32)))
# What every lab server returns; pynetdicom's qrscp supports no other PHI return key.
CORE_PHI = {"PatientName", "PatientID", "AccessionNumber", "StudyDate"}


def exposure_scan(lab: LabInfo, service: str, **overrides: object) -> Finding:
    svc = lab.service(service)
    options: dict[str, object] = {
        "depth": Depth.EXPOSURE,
        "hasher": HASHER,
        "budget": 60.0,
        "tls_ports": frozenset(),
    }
    if svc.calling_ae:  # dcmqrscp lets in only its configured peer
        options.update(calling_ae=svc.calling_ae, default_called_ae=svc.called_ae)
    options.update(overrides)
    probe = DicomProbe(DicomOptions(**options))  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        return classify(runner.run(probe.scan(Target(lab.host, svc.port))))


@pytest.fixture(scope="module")
def scanned(lab: LabInfo) -> Callable[[str], Finding]:
    """Each server surveyed once per module (pynetdicom's qrscp needs ~10 s for it)."""
    cache: dict[str, Finding] = {}

    def get(service: str) -> Finding:
        if service not in cache:
            cache[service] = exposure_scan(lab, service)
        return cache[service]

    return get


def exposure_of(f: Finding) -> tuple[DicomResult, Exposure]:
    assert f.status is Status.DICOM
    assert isinstance(f.result, DicomResult)
    assert f.result.exposure is not None, f.result
    return f.result, f.result.exposure


@pytest.mark.lab
@pytest.mark.parametrize("service", ["orthanc", "qrscp", "dcmqrscp"])
def test_exact_counts(lab: LabInfo, scanned: Callable[[str], Finding], service: str) -> None:
    corpus = lab.corpus
    result, e = exposure_of(scanned(service))
    assert e.error is None
    assert (e.patients, e.studies, e.images) == (
        corpus["patients"],
        corpus["studies"],
        corpus["instances"],
    )
    assert e.patients_lower_bound is False
    assert e.studies_lower_bound is False
    assert e.images_lower_bound is False
    assert e.distinct_patients == corpus["patients"]
    assert e.study_years == corpus["study_years"]
    modalities = corpus["modalities"]
    assert isinstance(modalities, dict)
    assert set(e.modalities) == set(modalities)
    # Every lab archive also takes C-STORE from the scanner (nothing was stored): with the
    # studies listed that makes it tamper-capable, above phi-readable.
    assert result.exposure_class is ExposureClass.TAMPER_CAPABLE
    assert result.severity is Severity.CRITICAL
    assert result.storage is not None
    assert "CTImageStorage" in result.storage.accepted
    assert {k for k, n in e.phi_attributes.items() if n > 0} >= CORE_PHI
    assert result.attempts[-1].released is True


@pytest.mark.lab
def test_image_count_sources(scanned: Callable[[str], Finding]) -> None:
    """Orthanc fills Number of Study Related Instances; the others need lower levels."""
    assert exposure_of(scanned("orthanc"))[1].images_source == "study-related-instances"
    for service in ("qrscp", "dcmqrscp"):
        e = exposure_of(scanned(service))[1]
        assert e.images_source in {"series-related-instances", "image-query"}
        assert e.series is not None


@pytest.mark.lab
def test_orthanc_returns_every_phi_key_the_corpus_holds(
    scanned: Callable[[str], Finding],
) -> None:
    e = exposure_of(scanned("orthanc"))[1]
    studies = 60
    for keyword in (
        "PatientAddress",
        "PatientTelephoneNumbers",
        "AdditionalPatientHistory",
        "ReferringPhysicianName",
        "InstitutionName",
        "PatientWeight",
    ):
        assert e.phi_attributes.get(keyword, 0) >= studies, keyword


@pytest.mark.lab
def test_keyed_hashes_match_across_servers(scanned: Callable[[str], Finding]) -> None:
    hashes = [set(exposure_of(scanned(s))[1].patient_id_hashes) for s in ("orthanc", "qrscp")]
    assert hashes[0] == hashes[1]
    assert len(hashes[0]) == 25
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in hashes[0])
    assert exposure_of(scanned("orthanc"))[1].hash_key_id == HASHER.key_id


@pytest.mark.lab
def test_a_different_key_gives_different_hashes(lab: LabInfo) -> None:
    other = KeyedHasher(b"another secret key of 32 bytes!!")
    f = exposure_scan(lab, "orthanc", hasher=other)
    e = exposure_of(f)[1]
    assert e.hash_key_id == other.key_id != HASHER.key_id
    assert len(e.patient_id_hashes) == 25
    assert not set(e.patient_id_hashes) & set(
        exposure_scan(lab, "orthanc").result.exposure.patient_id_hashes  # type: ignore[union-attr]
    )


@pytest.mark.lab
def test_max_records_cancels_and_marks_lower_bounds(lab: LabInfo) -> None:
    f = exposure_scan(lab, "orthanc", exposure=ExposureOptions(max_records=5))
    result, e = exposure_of(f)
    assert e.patients == 5
    assert e.patients_lower_bound is True
    assert e.studies == 5
    assert e.studies_lower_bound is True
    assert e.images_lower_bound is True
    levels = {q.level: q for q in e.queries}
    for level in ("PATIENT", "STUDY"):
        assert levels[level].lower_bound is True
        # After C-CANCEL the server ends the query: cancelled (FE00) or success.
        assert set(levels[level].statuses) <= {"FE00", "0000"}
    assert result.attempts[-1].released is True  # still a clean release


@pytest.mark.lab
def test_retrieval_exposure_without_retrieving(scanned: Callable[[str], Finding]) -> None:
    qr = exposure_of(scanned("qrscp"))[0].retrieval
    assert qr is not None
    assert qr.get_accepted is True
    assert qr.move_accepted is True
    assert qr.move_check is MoveCheck.DESTINATION_UNKNOWN
    assert qr.move_status == 0xA801
    orthanc = exposure_of(scanned("orthanc"))[0].retrieval
    assert orthanc is not None
    assert orthanc.get_accepted is True
    # Orthanc answers C000 ("unable to process") for an unknown destination, no A801.
    assert orthanc.move_check is MoveCheck.FAILED
    assert orthanc.move_status == 0xC000


@pytest.mark.lab
def test_time_budget_stops_enumeration_with_partial_counts(lab: LabInfo) -> None:
    """qrscp needs ~10 s for the full survey; 3 s of budget must end early, cleanly."""
    f = exposure_scan(lab, "qrscp", budget=3.0, exposure=ExposureOptions(reserve=1.0))
    result, e = exposure_of(f)
    assert e.patients == 25
    assert e.studies == 60
    assert e.images is not None
    assert e.images_lower_bound is True
    assert e.images < 295
    assert f.duration_ms is not None
    assert f.duration_ms < 3000
    assert result.attempts[-1].released is True


@pytest.mark.lab
def test_discover_depth_sends_no_query(lab: LabInfo) -> None:
    f = exposure_scan(lab, "orthanc", depth=Depth.DISCOVER)
    assert isinstance(f.result, DicomResult)
    assert f.result.exposure is None
    assert f.result.retrieval is None
    # Storage acceptance is association-level, no query: it runs at discover depth too.
    assert f.result.exposure_class is ExposureClass.WRITABLE
    assert f.result.severity is Severity.HIGH
