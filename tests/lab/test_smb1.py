"""The SMB probe against a real Samba that speaks only SMB1 (NT1), as the old NAS boxes of the
published surveys do: guest access, the DICOM tree read by magic, PHI counted, nothing kept."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import msgspec
import pytest

from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.fileshare import smb_conf
from pacsaudit.lab.services import samba_helpers_of
from pacsaudit.lab.synth import CorpusSpec, generate_corpus
from pacsaudit.measure.classify import classify
from pacsaudit.model import ExposureClass, FileShareResult, Status
from pacsaudit.probes.fileshare.smb import SmbProbe
from pacsaudit.targets.spec import Target

SPEC = CorpusSpec(patients=2, studies=2, max_series_per_study=1, max_instances_per_series=2, seed=7)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def smb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, list[str], int]]:
    """smbd with ``server max protocol = NT1`` on a free loopback port; (port, canaries, files)."""
    if shutil.which("smbd") is None:
        pytest.fail("Samba's smbd is needed: `make test` installs it")
    root = tmp_path_factory.mktemp("smb1")
    manifest = generate_corpus(root / "tree", SPEC)
    port = _free_port()
    conf = smb_conf(root / "samba", port, root / "tree", smb1_only=True)
    log = (root / "smbd.log").open("wb")
    proc = subprocess.Popen(
        ["smbd", "--foreground", "--no-process-group", f"--configfile={conf}", "--debug-stdout"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # bounded: smbd opens its port in about a second
            assert proc.poll() is None, (root / "smbd.log").read_text(errors="replace")[-2000:]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("smbd (NT1 only) did not open its port within 20 s")
        yield port, sorted(manifest.canaries), len(manifest.files)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for pid in samba_helpers_of(root):  # samba-dcerpcd runs in a session of its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        log.close()


@pytest.mark.lab
def test_smb1_only_server_is_read_as_an_exposed_share(smb1: tuple[int, list[str], int]) -> None:
    port, canaries, files = smb1
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        found = classify(runner.run(SmbProbe().scan(Target("127.0.0.1", port))))
    assert found.status is Status.SMB, found
    r = found.result
    assert isinstance(r, FileShareResult)
    assert r.server is not None
    assert r.server.startswith("SMB 1")  # the dialect the server was limited to
    assert r.anonymous
    assert r.dicom_files == files
    assert r.dicom_detection == "magic"
    assert r.headers_sampled == files
    assert r.phi_attributes["PatientName"] == files
    assert r.exposure_class is ExposureClass.PHI_READABLE
    text = msgspec.json.encode(found).decode().lower()
    assert not [c for c in canaries if c.lower() in text]
