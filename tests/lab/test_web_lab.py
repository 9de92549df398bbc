"""The lab's nginx autoindex and nginx WebDAV of the share tree, scanned for real.

They serve the same synthetic tree as FTP, SMB and rsync (``pacsaudit.lab.fileshare``), so the
walk through a web listing must count what the FTP walk counts — the lab's ground truth — and
keep every canary, patient folder names included, out of the finding.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.lab.manager import LabInfo
from pacsaudit.measure.classify import classify_all
from pacsaudit.model import (
    CompromiseResult,
    ExposureClass,
    FileShareResult,
    Finding,
    HttpResult,
    Severity,
    Status,
)
from pacsaudit.plan import ScanPlan
from pacsaudit.probes.catalog import build_probes
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.probes.fileshare.walk import WalkOptions
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.targets.spec import AddressSpace, Target

pytestmark = pytest.mark.lab


def scan(lab: LabInfo, service: str) -> tuple[list[Finding], HttpResult, FileShareResult]:
    target = Target(lab.host, lab.service(service).port)
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        findings = classify_all([runner.run(HttpProbe().scan(target))])
    result = findings[0].result
    assert isinstance(result, HttpResult), findings[0]
    assert result.listing is not None, result
    return findings, result, result.listing


@pytest.mark.parametrize(
    ("service", "fmt"), [("web-listing", "nginx-autoindex"), ("webdav", "webdav")]
)
def test_web_share_of_the_tree(lab: LabInfo, service: str, fmt: str) -> None:
    findings, result, r = scan(lab, service)
    expect = lab.service(service).expect
    assert result.listing_format == fmt
    assert result.exposure_class is ExposureClass.PHI_READABLE
    assert result.severity is Severity.CRITICAL
    assert str(r.files) == expect["files"]
    assert str(r.dicom_files) == expect["dicom_files"]
    assert r.dicom_detection == "magic"
    assert r.headers_sampled == WalkOptions().max_samples
    assert 0 < r.samples_in_named_paths <= r.headers_sampled
    assert r.not_dicom_named_dicom == 1  # misc/not-really.dcm
    assert r.bounds_hit == ["max-depth"]  # the deep chain
    # misc/loop -> .: autoindex refuses to enter it (disable_symlinks), WebDAV lists it again
    # (dav-ext ignores disable_symlinks) and the walk tells it by its listing: a loop.
    assert (r.walk_errors, r.symlinks) == ((1, 0) if fmt == "nginx-autoindex" else (0, 1))
    fileshare = lab.corpus["fileshare"]
    assert isinstance(fileshare, dict)
    dicomdir = fileshare["dicomdir"]
    assert r.dicomdir is not None
    assert (r.dicomdir.patients, r.dicomdir.studies, r.dicomdir.images) == (
        dicomdir["patients"],
        dicomdir["studies"],
        dicomdir["images"],
    )
    assert {h.indicator for h in r.indicators} == {"ech0raix-note", "miner-config"}
    assert r.bytes_read < r.files_read * WalkOptions().max_header_bytes
    compromise = findings[1].result
    assert isinstance(compromise, CompromiseResult)
    assert compromise.share_protocol == "http"
    canaries = lab.corpus["canaries"]
    assert isinstance(canaries, list)
    text = msgspec.json.encode(findings).decode().lower()
    assert [c for c in canaries if isinstance(c, str) and c.lower() in text] == []


def test_dispatcher_sends_the_unclaimed_ports_to_http(lab: LabInfo) -> None:
    plan = ScanPlan(
        AddressSpace(),
        (),
        EngineOptions(),
        DicomOptions(tls_ports=frozenset(), read_timeout=2.0),
        output=None,
    )
    dispatcher = Dispatcher(build_probes(plan))
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        for name in ("web-listing", "webdav"):
            target = Target(lab.host, lab.service(name).port)
            findings = runner.run(dispatcher.scan_all(target))
            web = [f for f in findings if f.status is Status.HTTP]
            assert len(web) == 1, [(f.protocol, f.status) for f in findings]
            assert isinstance(web[0].result, HttpResult)
            assert web[0].result.exposure_class is ExposureClass.PHI_READABLE
            assert any(f.status is Status.COMPROMISE for f in findings)
