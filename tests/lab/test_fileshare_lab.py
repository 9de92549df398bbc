"""FTP (pyftpdlib), SMB (Samba smbd) and rsync (rsync daemon) of the lab, scanned for real.

The three serve one synthetic tree (``pacsaudit.lab.fileshare``): the counts a scan must find
were computed by the lab from the files themselves, and every canary of the corpus, patient
folder names included, must stay out of every output.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from pacsaudit.contract import Probe
from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.lab.manager import LabInfo
from pacsaudit.measure.classify import classify
from pacsaudit.model import (
    CompromiseResult,
    ExposureClass,
    FileShareResult,
    Finding,
    Severity,
    ShareAccess,
    Status,
    decode_finding,
)
from pacsaudit.plan import ScanPlan
from pacsaudit.probes.catalog import build_probes
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.probes.fileshare.ftp import FtpProbe
from pacsaudit.probes.fileshare.rsync import RsyncProbe
from pacsaudit.probes.fileshare.smb import SmbProbe
from pacsaudit.probes.fileshare.walk import WalkOptions
from pacsaudit.targets.spec import AddressSpace, Target

pytestmark = pytest.mark.lab


def scan(probe: Probe, lab: LabInfo, service: str) -> tuple[Finding, FileShareResult]:
    target = Target(lab.host, lab.service(service).port)
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        found = classify(runner.run(probe.scan(target)))
    assert isinstance(found.result, FileShareResult), found
    return found, found.result


def truth(lab: LabInfo) -> dict[str, object]:
    fileshare = lab.corpus["fileshare"]
    assert isinstance(fileshare, dict)
    return fileshare


def assert_no_canary(lab: LabInfo, text: str, where: str) -> None:
    canaries = lab.corpus["canaries"]
    assert isinstance(canaries, list)
    lowered = text.lower()
    leaked = [c for c in canaries if isinstance(c, str) and c.lower() in lowered]
    assert not leaked, f"{len(leaked)} canary values in {where}"


def assert_read_tree(lab: LabInfo, service: str, r: FileShareResult) -> None:
    """What FTP and SMB must both report of the tree (DICOM detection by magic)."""
    expect = lab.service(service).expect
    assert str(r.files) == expect["files"]
    assert str(r.dicom_files) == expect["dicom_files"]
    assert r.dicom_detection == "magic"
    assert r.exposure_class is ExposureClass.PHI_READABLE
    assert r.severity == "critical"
    assert r.headers_sampled == WalkOptions().max_samples
    assert r.phi_attributes["PatientName"] > 0
    # studies/<family>_<patient>/…: a listing names the patients (media/ is FileSet's names)
    assert 0 < r.samples_in_named_paths <= r.headers_sampled
    assert r.not_dicom_named_dicom == 1  # misc/not-really.dcm
    assert r.bounds_hit == ["max-depth"]  # the deep chain
    assert r.lower_bound
    assert r.symlinks >= 1  # misc/loop -> . walked once
    dicomdir = truth(lab)["dicomdir"]
    assert r.dicomdir is not None
    assert isinstance(dicomdir, dict)
    assert (r.dicomdir.patients, r.dicomdir.studies, r.dicomdir.series, r.dicomdir.images) == (
        dicomdir["patients"],
        dicomdir["studies"],
        dicomdir["series"],
        dicomdir["images"],
    )
    assert not r.dicomdir.lower_bound
    assert {h.indicator for h in r.indicators} == {"ech0raix-note", "miner-config"}
    # Bounded reads: far less than the tree's bytes, never more than the header limit each.
    assert r.bytes_read < r.files_read * WalkOptions().max_header_bytes
    assert_no_canary(lab, found_json(r), service)


def found_json(r: FileShareResult) -> str:
    return msgspec.json.encode(r).decode()


def test_ftp_anonymous_tree(lab: LabInfo) -> None:
    found, r = scan(FtpProbe(), lab, "ftp")
    assert found.status is Status.FTP
    assert r.login == "anonymous"
    assert r.server is not None
    assert "pyftpdlib" in r.server
    assert r.world_writable_dirs == 1  # incoming/ is 0777
    assert r.writable_dirs == 0  # but anonymous may not write (MLSD perm facts)
    assert_read_tree(lab, "ftp", r)


def test_smb_guest_shares(lab: LabInfo) -> None:
    found, r = scan(SmbProbe(), lab, "smb")
    assert found.status is Status.SMB
    assert r.login in ("null-session", "guest")
    shares = {s.name: s for s in r.shares}
    assert shares["images"].access is ShareAccess.LISTED
    assert shares["images"].writable is False
    assert shares["radiology-private"].access is ShareAccess.DENIED
    assert_read_tree(lab, "smb", r)


def test_rsync_modules(lab: LabInfo) -> None:
    found, r = scan(RsyncProbe(), lab, "rsync")
    expect = lab.service("rsync").expect
    assert found.status is Status.RSYNC
    assert {s.name: s.access for s in r.shares} == {
        "archive": ShareAccess.LISTED,
        "backup": ShareAccess.DENIED,
    }
    assert str(r.files) == expect["files"]
    assert str(r.dicom_files) == expect["dicom_files"]
    assert r.dicom_detection == "name-and-size"
    assert r.files_read == 0  # rsync never reads part of a file, so nothing is read
    assert r.exposure_class is ExposureClass.RETRIEVABLE
    assert r.world_writable_dirs == 1
    assert {h.indicator for h in r.indicators} == {"ech0raix-note"}  # no content check
    assert_no_canary(lab, found_json(r), "rsync")


@pytest.mark.parametrize("service", ["ftp", "smb", "rsync"])
def test_bounds_make_lower_bounds(lab: LabInfo, service: str) -> None:
    probe_type = {"ftp": FtpProbe, "smb": SmbProbe, "rsync": RsyncProbe}[service]
    _, r = scan(probe_type(WalkOptions(max_entries=12)), lab, service)
    assert "max-entries" in r.bounds_hit
    assert r.lower_bound
    assert r.dicom_lower_bound
    assert r.files < int(lab.service(service).expect["files"])
    _, r = scan(probe_type(WalkOptions(max_depth=1, max_reads=3)), lab, service)
    assert "max-depth" in r.bounds_hit
    assert r.files_read <= 3


def test_dispatcher_identifies_each_port(lab: LabInfo) -> None:
    plan = ScanPlan(
        AddressSpace(),
        (),
        EngineOptions(),
        DicomOptions(tls_ports=frozenset(), read_timeout=2.0),
        output=None,
    )
    dispatcher = Dispatcher(build_probes(plan))
    want = {"ftp": Status.FTP, "smb": Status.SMB, "rsync": Status.RSYNC}
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        for name, status in want.items():
            findings = runner.run(dispatcher.scan_all(Target(lab.host, lab.service(name).port)))
            shares = [f for f in findings if isinstance(f.result, FileShareResult)]
            assert [f.protocol for f in shares] == [name]
            assert shares[0].status is status
            assert findings[0].protocol == "dicom"  # the sniff came first
            # Signs of compromise follow as a finding of their own, pointing at the share.
            compromise = [f for f in findings if f.status is Status.COMPROMISE]
            assert len(compromise) == 1
            assert isinstance(compromise[0].result, CompromiseResult)
            assert compromise[0].result.indicators == shares[0].result.indicators
            assert compromise[0].protocol == "compromise"
            assert compromise[0].result.share_protocol == name
            assert compromise[0].port == shares[0].port
            assert compromise[0].result.severity is Severity.CRITICAL


def test_cli_scan_debug_log_holds_no_phi(lab: LabInfo, tmp_path: Path) -> None:
    ports = ",".join(str(lab.service(n).port) for n in ("ftp", "smb", "rsync"))
    out = tmp_path / "shares.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "pacsaudit", "scan", lab.host, "-p", ports,
         "--log-level", "DEBUG", "--key-file", str(_key(tmp_path)), "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    findings = [decode_finding(line) for line in out.read_bytes().splitlines()]
    kinds = {f.protocol: f.status for f in findings if isinstance(f.result, FileShareResult)}
    assert kinds == {"ftp": Status.FTP, "smb": Status.SMB, "rsync": Status.RSYNC}
    assert "compromise" in run.stderr  # indicator rows in the table
    assert {
        f.result.share_protocol for f in findings if isinstance(f.result, CompromiseResult)
    } == {
        "ftp",
        "smb",
        "rsync",
    }
    for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("jsonl", out.read_text())):
        assert_no_canary(lab, text, where)


def _key(tmp_path: Path) -> Path:
    key = tmp_path / "key"
    key.write_text("12" * 32 + "\n")
    key.chmod(0o600)
    return key
