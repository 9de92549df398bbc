"""The SMB probe against a real Samba that speaks only SMB1 (NT1), as the old NAS boxes of the
published surveys do: guest access, the DICOM tree read by magic, PHI counted, nothing kept."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgspec
import pytest

from loopback import free_port
from pacsaudit.engine.options import new_event_loop_factory
from pacsaudit.lab.fileshare import smb_conf
from pacsaudit.lab.synth import CorpusSpec, generate_corpus
from pacsaudit.measure.classify import classify
from pacsaudit.model import ExposureClass, FileShareResult, Status
from pacsaudit.probes.fileshare.smb import SmbProbe
from pacsaudit.targets.spec import Target
from samba_servers import running_smbd

SPEC = CorpusSpec(patients=2, studies=2, max_series_per_study=1, max_instances_per_series=2, seed=7)


@pytest.fixture(scope="module")
def smb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, list[str], int]]:
    """smbd with ``server max protocol = NT1`` on a free loopback port; (port, canaries, files)."""
    root = tmp_path_factory.mktemp("smb1")
    manifest = generate_corpus(root / "tree", SPEC)
    port = free_port()
    conf = smb_conf(root / "samba", port, root / "tree", smb1_only=True)
    with running_smbd(root, conf, port):
        yield port, sorted(manifest.canaries), len(manifest.files)


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
