"""The demo's own scan of the whole lab, checked against the lab's ground truth.

``make demo`` fails when its check fails, so the check itself must hold on every service
the lab starts, the file shares' separate compromise findings included.
"""

from __future__ import annotations

import pytest
from rich.console import Console

from pacsaudit.lab.demo import check_against_lab, scan_lab
from pacsaudit.lab.manager import LabInfo
from pacsaudit.model import Finding, Status


@pytest.fixture(scope="module")
def demo_findings(lab: LabInfo, tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    out = tmp_path_factory.mktemp("demo") / "findings.jsonl"
    return scan_lab(lab, out, Console(quiet=True))


@pytest.mark.lab
def test_demo_scan_matches_the_lab(lab: LabInfo, demo_findings: list[Finding]) -> None:
    findings = demo_findings
    console = Console(record=True, width=200)
    assert check_against_lab(lab, findings, console), console.export_text()
    compromise = [f for f in findings if f.status is Status.COMPROMISE]
    shares = {s.port for s in lab.services if s.expect.get("compromise") == "yes"}
    assert {f.port for f in compromise} == shares


@pytest.mark.lab
def test_check_fails_when_a_share_finding_is_missing(
    lab: LabInfo, demo_findings: list[Finding]
) -> None:
    """The regression that broke the demo: a compromise finding must never stand in for the
    share's own finding, nor hide its absence."""
    findings = demo_findings
    ftp = lab.service("ftp").port
    without_share: list[Finding] = [
        f for f in findings if not (f.port == ftp and f.status is not Status.COMPROMISE)
    ]
    console = Console(record=True, width=200)
    assert not check_against_lab(lab, without_share, console)
    assert f"no finding for port {ftp}" in console.export_text()
    without_compromise = [
        f for f in findings if not (f.port == ftp and f.status is Status.COMPROMISE)
    ]
    console = Console(record=True, width=200)
    assert not check_against_lab(lab, without_compromise, console)
    assert "compromise finding False, expected True" in console.export_text()


@pytest.mark.lab
def test_demo_shows_a_worklist_and_a_writable_storage_only_server(
    lab: LabInfo, demo_findings: list[Finding]
) -> None:
    from pacsaudit.lab.worklist import WORKLIST_STEPS
    from pacsaudit.model import AccessTier, DeviceClass, DicomResult, ExposureClass

    by_port = {f.port: f.result for f in demo_findings if isinstance(f.result, DicomResult)}
    worklist = by_port[lab.service("worklist").port]
    assert worklist is not None
    assert worklist.worklist is not None
    assert worklist.worklist.scheduled_steps == WORKLIST_STEPS
    assert worklist.device_class is DeviceClass.WORKLIST_BROKER
    assert worklist.access_tier is AccessTier.WEAK
    storage = by_port[lab.service("storescp").port]
    assert storage is not None
    assert storage.exposure_class is ExposureClass.WRITABLE
    assert storage.storage is not None
    assert storage.storage.accepted
    assert storage.access_tier is AccessTier.NONE
    incoming = lab.state_dir / "storescp" / "incoming"
    assert not [p for p in incoming.rglob("*") if p.is_file()]  # nothing was stored
