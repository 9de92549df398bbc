"""The dispatcher on ports no probe claims: the peer's first answer picks the probe."""

from __future__ import annotations

import asyncio

import pytest

from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.lab.manager import LabInfo
from pacsaudit.model import DicomResult, ErrorKind, Finding, Status
from pacsaudit.plan import ScanPlan
from pacsaudit.probes.catalog import PROBE_NAMES, build_probes, default_scan_ports
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.probes.dispatch import Dispatcher, default_ports, sniff_protocol
from pacsaudit.targets.spec import AddressSpace, Target


def dispatcher(forced: str | None = None) -> Dispatcher:
    plan = ScanPlan(
        space=AddressSpace(),
        ports=(),
        engine=EngineOptions(),
        dicom=DicomOptions(tls_ports=frozenset(), read_timeout=2.0),
        output=None,
    )
    return Dispatcher(build_probes(plan), forced=forced)


def scan_all(d: Dispatcher, lab: LabInfo, service: str) -> list[Finding]:
    target = Target(lab.host, lab.service(service).port)
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        return runner.run(d.scan_all(target))


def test_default_ports_are_the_union_of_the_probes() -> None:
    probes = build_probes(
        ScanPlan(AddressSpace(), (), EngineOptions(), DicomOptions(), output=None)
    )
    assert set(PROBE_NAMES) == set(probes)
    assert default_scan_ports() == default_ports(probes.values())
    assert {104, 11112, 4242, 2761, 2762} <= set(default_scan_ports())


@pytest.mark.parametrize(
    ("banner", "protocol"),
    [
        ("HTTP/1.1 400 Bad Request\\r\\n", "http"),
        ("220 ProFTPD Server ready.\\r\\n", "ftp"),
        ("220-Welcome\\r\\n", "ftp"),
        ("@RSYNCD: 31.0\\n", "rsync"),
        ("\\x15\\x03\\x03\\x00\\x02\\x02(", "tls"),
        ("SSH-2.0-OpenSSH_9.2", None),
        (None, None),
    ],
)
def test_sniff(banner: str | None, protocol: str | None) -> None:
    assert sniff_protocol(banner) == protocol


@pytest.mark.lab
def test_unclaimed_dicom_port_is_scanned_once(lab: LabInfo) -> None:
    findings = scan_all(dispatcher(), lab, "orthanc")
    assert [f.status for f in findings] == [Status.DICOM]


@pytest.mark.lab
def test_silent_port_is_tried_with_tls(lab: LabInfo) -> None:
    """storescp with +tls resets on our cleartext request; the TLS follower gets in."""
    findings = scan_all(dispatcher(), lab, "dicom-tls")
    assert len(findings) == 2
    sniff, follow = findings
    assert sniff.status is Status.ERROR
    assert sniff.error is not None
    assert sniff.error.kind is ErrorKind.RESET
    assert follow.status is Status.DICOM
    assert (sniff.protocol, follow.protocol) == ("dicom", "dicom-tls")  # schema version 2
    assert isinstance(follow.result, DicomResult)
    assert follow.result.tls is not None
    assert follow.result.echo_status == 0


@pytest.mark.lab
def test_closed_port_gets_no_followers(lab: LabInfo) -> None:
    assert [f.status for f in scan_all(dispatcher(), lab, "closed")] == [Status.CLOSED]


@pytest.mark.lab
def test_forced_probe(lab: LabInfo) -> None:
    findings = scan_all(dispatcher(forced="dicom-tls"), lab, "dicom-tls")
    assert [f.status for f in findings] == [Status.DICOM]
