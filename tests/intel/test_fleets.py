"""Fleets of identical services are found; look-alike but different archives are not."""

from __future__ import annotations

from pacsaudit.intel.fleets import find_fleets
from pacsaudit.model import AePolicy, DicomResult, Exposure, Finding, Status


def finding(ip: str, patients: int, uid: str = "1.2.826.0.1.3680043.9.3811.3.0.4") -> Finding:
    return Finding(
        ip=ip,
        port=104,
        protocol="dicom",
        status=Status.DICOM,
        timestamp="2026-11-26T00:00:00.000Z",
        result=DicomResult(
            ae_policy=AePolicy.ANY_CALLED_AE,
            implementation_class_uid=uid,
            accepted_contexts=["Verification"],
            exposure=Exposure(patients=patients, studies=patients * 2, images=patients * 10),
        ),
    )


def test_three_identical_services_are_a_fleet() -> None:
    findings = [finding(f"192.0.2.{n}", 25) for n in range(1, 4)]
    findings.append(finding("192.0.2.9", 26))  # a real archive of its own
    flagged = find_fleets(findings)
    assert set(flagged) == {(f"192.0.2.{n}", 104) for n in range(1, 4)}
    assert "3 addresses" in flagged[("192.0.2.1", 104)]


def test_two_are_not_a_fleet_and_empty_servers_never_are() -> None:
    assert find_fleets([finding("192.0.2.1", 25), finding("192.0.2.2", 25)]) == {}
    assert find_fleets([finding(f"198.51.100.{n}", 0) for n in range(10)]) == {}


def test_same_counts_different_software_are_not_a_fleet() -> None:
    findings = [finding("203.0.113.1", 25), finding("203.0.113.2", 25)]
    findings.append(finding("203.0.113.3", 25, uid="1.2.276.0.7230010.3.0.3.6.7"))
    assert find_fleets(findings) == {}
