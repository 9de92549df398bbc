"""The DICOM probe against the real servers of the lab: every classification asserted."""

from __future__ import annotations

import asyncio

import pytest

from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.manager import LabInfo
from pacsaudit.measure.classify import classify
from pacsaudit.model import AePolicy, AssociationOutcome, DicomResult, ErrorKind, Finding, Status
from pacsaudit.probes.dicom.probe import DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target

ALL_CONTEXTS = {
    "Verification",
    "PatientRootQueryRetrieveInformationModelFind",
    "StudyRootQueryRetrieveInformationModelFind",
    "PatientRootQueryRetrieveInformationModelMove",
    "StudyRootQueryRetrieveInformationModelMove",
    "PatientRootQueryRetrieveInformationModelGet",
    "StudyRootQueryRetrieveInformationModelGet",
}


def probe_once(lab: LabInfo, service: str, options: DicomOptions | None = None) -> Finding:
    port = lab.service(service).port
    opts = options or DicomOptions(tls_ports=frozenset(s.port for s in lab.services if s.tls))
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        return classify(runner.run(DicomProbe(opts).scan(Target(lab.host, port))))


def dicom_result(f: Finding) -> DicomResult:
    assert f.status is Status.DICOM, f
    assert isinstance(f.result, DicomResult)
    return f.result


@pytest.mark.lab
def test_orthanc_is_wide_open_and_identified(lab: LabInfo) -> None:
    r = dicom_result(probe_once(lab, "orthanc"))
    assert r.ae_policy is AePolicy.ANY_CALLED_AE
    # Orthanc answers with DCMTK's identifiers (LAB-NOTES): toolkit, not product.
    assert r.implementation_class_uid == "1.2.276.0.7230010.3.0.3.6.7"
    assert r.implementation_version_name == "OFFIS_DCMTK_367"
    assert (r.toolkit, r.toolkit_version) == ("DCMTK", "3.6.7")
    assert set(r.accepted_contexts) == ALL_CONTEXTS
    assert r.echo_status == 0
    assert len(r.attempts) == 1
    attempt = r.attempts[0]
    assert attempt.outcome is AssociationOutcome.ACCEPTED
    assert attempt.called_ae.startswith("PA")  # the random title, accepted
    assert attempt.released is True
    assert attempt.max_pdu_length is not None
    assert attempt.max_pdu_length > 0


@pytest.mark.lab
def test_dcmqrscp_enforces_ae_titles(lab: LabInfo) -> None:
    r = dicom_result(probe_once(lab, "dcmqrscp"))
    assert r.ae_policy is AePolicy.CALLED_AE_ENFORCED
    assert r.accepted_contexts == []
    assert [a.outcome for a in r.attempts] == [AssociationOutcome.REJECTED] * 2
    assert [a.called_ae for a in r.attempts][1] == "ANY-SCP"
    for a in r.attempts:
        assert a.reject is not None
        assert a.reject.result == "rejected-permanent"
        assert a.reject.source == "service-user"
        assert a.reject.reason == "called-ae-title-not-recognized"
        assert a.reject.reason_code == 7


@pytest.mark.lab
def test_dcmqrscp_accepts_its_known_peer(lab: LabInfo) -> None:
    """The rejection above is about AE titles: the configured pair gets in."""
    svc = lab.service("dcmqrscp")
    assert svc.called_ae is not None
    assert svc.calling_ae is not None
    r = dicom_result(
        probe_once(
            lab,
            "dcmqrscp",
            DicomOptions(calling_ae=svc.calling_ae, default_called_ae=svc.called_ae),
        )
    )
    assert r.ae_policy is AePolicy.CALLED_AE_KNOWN_DEFAULT
    assert r.accepted_called_ae == svc.called_ae
    assert (r.toolkit, r.toolkit_version) == ("DCMTK", "3.6.7")
    assert r.echo_status == 0
    assert r.attempts[-1].released is True


@pytest.mark.lab
def test_pynetdicom_qrscp_identified(lab: LabInfo) -> None:
    r = dicom_result(probe_once(lab, "qrscp"))
    assert r.ae_policy is AePolicy.ANY_CALLED_AE
    assert r.implementation_class_uid == "1.2.826.0.1.3680043.9.3811.3.0.4"
    assert r.implementation_version_name == "PYNETDICOM_304"
    assert (r.toolkit, r.toolkit_version) == ("pynetdicom", "3.0.4")
    assert r.echo_status == 0
    assert "PatientRootQueryRetrieveInformationModelFind" in r.accepted_contexts


@pytest.mark.lab
def test_dicom_over_tls(lab: LabInfo) -> None:
    r = dicom_result(probe_once(lab, "dicom-tls"))
    assert r.tls is not None
    assert r.tls.version in {"TLSv1.2", "TLSv1.3"}
    cert = r.tls.certificate
    assert cert is not None
    assert cert.self_signed is True
    assert "pacsaudit-lab-dicom-tls" in cert.subject
    assert cert.expired is False
    assert cert.key_type == "RSA"
    assert cert.key_bits == 2048
    # storescp accepts Verification only; the Q/R contexts are refused one by one.
    assert r.accepted_contexts == ["Verification"]
    refused = [c for c in r.attempts[0].contexts if not c.accepted]
    assert {c.result for c in refused} == {"abstract-syntax-not-supported"}
    assert r.echo_status == 0


@pytest.mark.lab
def test_tls_port_spoken_in_clear_is_a_tls_failure(lab: LabInfo) -> None:
    """Orthanc's plain DICOM port treated as a TLS port: a clear TLS error, no traceback."""
    port = lab.service("orthanc").port
    f = probe_once(lab, "orthanc", DicomOptions(tls_ports=frozenset({port}), read_timeout=2.0))
    assert f.status is Status.ERROR
    assert f.error is not None
    assert f.error.kind is ErrorKind.TLS_FAILURE


@pytest.mark.lab
def test_plain_probe_of_tls_port_is_not_dicom_or_error(lab: LabInfo) -> None:
    f = probe_once(lab, "dicom-tls", DicomOptions(tls_ports=frozenset(), read_timeout=1.0))
    assert f.status in {Status.OPEN_NOT_DICOM, Status.ERROR}
    assert f.result is None or isinstance(f.result, DicomResult)


@pytest.mark.lab
def test_http_port_is_open_not_dicom_with_banner(lab: LabInfo) -> None:
    f = probe_once(lab, "orthanc-http")
    assert f.status is Status.OPEN_NOT_DICOM
    assert isinstance(f.result, DicomResult)
    assert f.result.banner is not None
    assert f.result.banner.startswith("HTTP/1.")
    assert len(f.result.banner) <= 96 * 4  # bounded, escapes included


@pytest.mark.lab
def test_closed_port(lab: LabInfo) -> None:
    f = probe_once(lab, "closed")
    assert f.status is Status.CLOSED
    assert f.error is None
    assert f.result is None


@pytest.mark.lab
def test_products_told_apart_by_behaviour(lab: LabInfo) -> None:
    """Orthanc and storescp share DCMTK's identifiers; their behaviour names them."""
    orthanc = dicom_result(probe_once(lab, "orthanc"))
    storescp = dicom_result(probe_once(lab, "dicom-tls"))
    qrscp = dicom_result(probe_once(lab, "qrscp"))
    assert orthanc.product == "Orthanc"
    assert storescp.product == "DCMTK storescp"
    assert qrscp.product == "pynetdicom"
    for r in (orthanc, storescp):
        assert "CVE-2024-34508" in r.cves  # DCMTK 3.6.7's network code: fixed in 3.6.9
        # flaws of DCMTK's worklist server are not listed for servers that serve no worklist
        assert "CVE-2026-52868" not in r.cves
        assert "CVE-2026-44628" not in r.cves
        assert "CVE-2022-2120" not in r.cves  # a client tool's flaw, never a server's
        assert r.cve_basis is not None
        assert "possibly affected" in r.cve_basis
    # Orthanc accepts C-STORE from anyone here: the SCP path traversal is reachable on it
    assert orthanc.storage is not None
    assert orthanc.storage.accepted
    assert "CVE-2022-2119" in orthanc.cves
    for r in (orthanc, storescp, qrscp):
        assert r.accepts_unknown_sop_class is False  # real servers refuse a made-up SOP class
        assert r.flags == []  # synthetic lab data is neither demo data nor a honeypot
