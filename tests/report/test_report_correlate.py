"""The report ties a DICOM service to the Orthanc version its own REST API names."""

from __future__ import annotations

from pathlib import Path

import msgspec

from pacsaudit.model import (
    AePolicy,
    DicomResult,
    Finding,
    HttpResult,
    OrthancInfo,
    Status,
    encode_finding,
)
from pacsaudit.report.records import load_results


def _finding(port: int, protocol: str, status: Status, result: object) -> Finding:
    return Finding(
        ip="192.0.2.20",
        port=port,
        protocol=protocol,
        status=status,
        timestamp="2026-11-26T10:00:00.000Z",
        result=result,  # type: ignore[arg-type]
    )


def test_orthanc_version_from_rest_reaches_the_dicom_service(tmp_path: Path) -> None:
    dicom = DicomResult(
        ae_policy=AePolicy.ANY_CALLED_AE,
        toolkit="DCMTK",
        toolkit_version="3.6.7",
        product="Orthanc",
        cves=["CVE-2022-2119"],
    )
    web = HttpResult(orthanc=OrthancInfo(auth_required=False, version="1.5.7", dicom_port=4242))
    other = DicomResult(ae_policy=AePolicy.ANY_CALLED_AE, toolkit="DCMTK", toolkit_version="3.6.7")
    path = tmp_path / "f.jsonl"
    path.write_bytes(
        encode_finding(_finding(4242, "dicom", Status.DICOM, dicom))
        + encode_finding(_finding(8042, "http", Status.HTTP, web))
        + encode_finding(_finding(104, "dicom", Status.DICOM, other))
    )
    services = {s.port: s for s in load_results([path]).services}
    orthanc = services[4242]
    assert (orthanc.product, orthanc.version) == ("Orthanc", "1.5.7")
    assert "CVE-2025-0896" in orthanc.cves  # Orthanc < 1.5.8: no auth by default
    assert "CVE-2022-2119" in orthanc.cves  # its embedded DCMTK stays listed
    assert services[104].version != "1.5.7"  # another port of the host is not Orthanc's


def test_one_orthanc_over_dicom_and_rest_is_counted_once(tmp_path: Path) -> None:
    """The headline totals count a store once: Orthanc's REST names its own DICOM port, so
    its /statistics and the DICOM C-FIND counts describe the same patients."""
    from pacsaudit.model import Exposure, ExposureClass, OrthancStatistics, Severity
    from pacsaudit.report.summary import summarise

    def dicom_at(ip: str, port: int, patients: int, images: int, lower: bool) -> Finding:
        return msgspec.structs.replace(
            _finding(port, "dicom", Status.DICOM, None),
            ip=ip,
            result=DicomResult(
                ae_policy=AePolicy.ANY_CALLED_AE,
                exposure=Exposure(
                    patients=patients,
                    patients_lower_bound=lower,
                    studies=patients * 2,
                    images=images,
                ),
                exposure_class=ExposureClass.PHI_READABLE,
                severity=Severity.CRITICAL,
            ),
        )

    web = HttpResult(
        orthanc=OrthancInfo(
            auth_required=False,
            version="1.10.1",
            dicom_port=4242,
            statistics=OrthancStatistics(patients=30, studies=60, instances=300),
        ),
        exposure=Exposure(patients=30, studies=60, images=300),
        exposure_class=ExposureClass.PHI_READABLE,
        severity=Severity.CRITICAL,
    )
    path = tmp_path / "f.jsonl"
    path.write_bytes(
        encode_finding(dicom_at("192.0.2.20", 4242, 25, 250, True))  # cut short: ≥25
        + encode_finding(_finding(8042, "http", Status.HTTP, web))
        + encode_finding(dicom_at("192.0.2.21", 4242, 7, 70, False))  # another host
    )
    summary = summarise(load_results([path]))
    totals = summary.totals
    assert totals.services == 3
    assert (totals.patients, totals.studies, totals.images) == (30 + 7, 60 + 14, 300 + 70)
    assert totals.patients_lower_bound  # a member of the sum was cut short
    by_protocol = summary.by_protocol
    assert by_protocol["dicom"].patients == 25 + 7  # different stores within one protocol
    assert by_protocol["http"].patients == 30


def test_two_orthancs_naming_one_port_are_not_merged(tmp_path: Path) -> None:
    """Two containers behind one address, both configured with DICOM port 4242: which of them
    serves 4242 cannot be told, so neither is tied to it and both stores are summed."""
    from pacsaudit.model import Exposure, ExposureClass, Severity
    from pacsaudit.report.summary import summarise

    def rest(port: int, version: str, patients: int) -> Finding:
        web = HttpResult(
            orthanc=OrthancInfo(auth_required=False, version=version, dicom_port=4242),
            exposure=Exposure(patients=patients, studies=patients, images=patients),
            exposure_class=ExposureClass.PHI_READABLE,
            severity=Severity.CRITICAL,
        )
        return _finding(port, "http", Status.HTTP, web)

    dicom = DicomResult(
        ae_policy=AePolicy.ANY_CALLED_AE,
        toolkit="DCMTK",
        toolkit_version="3.6.7",
        exposure=Exposure(patients=100, studies=100, images=100),
        exposure_class=ExposureClass.PHI_READABLE,
        severity=Severity.CRITICAL,
    )
    path = tmp_path / "f.jsonl"
    path.write_bytes(
        encode_finding(rest(8042, "1.5.7", 100))
        + encode_finding(rest(8043, "1.12.1", 200))
        + encode_finding(_finding(4242, "dicom", Status.DICOM, dicom))
    )
    loaded = load_results([path])
    assert all(s.archive is None for s in loaded.services)
    assert {s.port: s.version for s in loaded.services}[4242] != "1.5.7"
    assert summarise(loaded).totals.patients == 100 + 200 + 100
