"""DICOM over TLS with client certificates required: classified tls-only, facts kept.

Runs DCMTK's storescp as a real peer (the lab's TLS server ignores client certificates;
this one demands them, as BCP 195 deployments do).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopback import free_port
from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.certs import write_self_signed
from pacsaudit.lab.services import find_program
from pacsaudit.measure.classify import classify
from pacsaudit.model import DicomResult, ErrorKind, ExposureClass, Severity, Status
from pacsaudit.probes.dicom.probe import DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target


@pytest.fixture
def mutual_tls_scp(tmp_path: Path) -> Iterator[int]:
    key, cert = write_self_signed(tmp_path, common_name="mutual-tls-scp")
    port = free_port()
    proc = subprocess.Popen(
        [find_program("storescp"), "--enable-tls", str(key), str(cert), "--null-passwd",
         "--require-peer-cert", "--add-cert-file", str(cert), "--profile-bcp195",
         "--output-directory", str(tmp_path), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, "storescp exited"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.lab
def test_client_certificate_required_is_tls_only(mutual_tls_scp: int) -> None:
    probe = DicomProbe(DicomOptions(tls_ports=frozenset({mutual_tls_scp}), read_timeout=3.0))
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        f = classify(runner.run(probe.scan(Target("127.0.0.1", mutual_tls_scp))))
    assert f.status is Status.ERROR
    assert f.error is not None
    assert f.error.kind is ErrorKind.TLS_FAILURE
    assert isinstance(f.result, DicomResult)
    assert f.result.exposure_class is ExposureClass.TLS_ONLY
    assert f.result.severity is Severity.INFO
    assert f.result.tls is not None
    assert f.result.tls.client_certificate_requested is True
    assert f.result.tls.certificate is not None
    assert "mutual-tls-scp" in f.result.tls.certificate.subject
