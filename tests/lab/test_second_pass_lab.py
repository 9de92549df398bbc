"""The second pass against a real Orthanc that checks the called AE title: the DICOM port
refuses our titles, the REST API's ``/system`` names the real one, and a second association
under it is let in and counts what is exposed (``pacsaudit.followup``)."""

from __future__ import annotations

import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import msgspec
import pytest

from pacsaudit import run
from pacsaudit.engine.options import EngineOptions
from pacsaudit.lab.synth import CorpusSpec, Manifest, generate_corpus
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import AePolicy, AssociationOutcome, DicomResult, Finding, HttpResult
from pacsaudit.plan import ScaleOptions, ScanPlan, make_plan
from pacsaudit.probes.dicom.options import Depth, DicomOptions
from pacsaudit.probes.http.options import HttpOptions
from pacsaudit.run import execute
from store_servers import Running, debian_orthanc

SECRET_AE = "LABARCH7"
"""Not on any shipped list: only the REST API gives it away."""
SPEC = CorpusSpec(patients=3, studies=4, max_series_per_study=1, max_instances_per_series=1, seed=5)
PACSAUDIT = [sys.executable, "-m", "pacsaudit"]


def load(server: Running, manifest: Manifest, auth: tuple[str, str] | None = None) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", auth=auth) as client:
        for path in manifest.files:
            assert client.post("/instances", content=path.read_bytes()).status_code == 200


@pytest.fixture
def corpus(tmp_path: Path) -> Manifest:
    return generate_corpus(tmp_path / "corpus", SPEC)


def guarded(root: Path, **changes: object) -> AbstractContextManager[Running]:
    """Debian's Orthanc with the called AE checked and C-FIND allowed to any caller."""
    return debian_orthanc(
        root,
        DicomAet=SECRET_AE,
        DicomCheckCalledAet=True,
        DicomAlwaysAllowFind=True,
        **changes,
    )


def scan(server: Running, out: Path, *extra: str) -> list[Finding]:
    ports = f"{server.port},{server.http_port}"
    argv = [*PACSAUDIT, "scan", "127.0.0.1", "-p", ports, "--depth", "exposure", "-q"]
    argv += ["-o", str(out), *extra]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode in (0, 3), r.stderr
    return [msgspec.json.decode(line, type=Finding) for line in out.read_bytes().splitlines()]


def dicom_records(findings: list[Finding]) -> list[DicomResult]:
    return [f.result for f in findings if isinstance(f.result, DicomResult) and f.status == "dicom"]


def check_second_pass(findings: list[Finding], manifest: Manifest, source: str) -> None:
    first, second = dicom_records(findings)
    assert first.ae_policy is AePolicy.CALLED_AE_ENFORCED
    assert first.exposure is None
    assert first.called_ae_source is None
    http = next(f.result for f in findings if isinstance(f.result, HttpResult))
    assert http.orthanc is not None
    assert http.orthanc.dicom_aet == SECRET_AE
    assert second.ae_policy is AePolicy.CALLED_AE_REVEALED
    assert second.called_ae_source == source
    assert second.accepted_called_ae == SECRET_AE
    # the first pass's refusals are kept, the revealed title follows them
    outcomes = [(a.called_ae, a.outcome) for a in second.attempts]
    assert outcomes[:-1] == [(a.called_ae, a.outcome) for a in first.attempts]
    assert outcomes[-1] == (SECRET_AE, AssociationOutcome.ACCEPTED)
    assert second.exposure is not None
    assert second.exposure.patients == manifest.patients
    assert second.exposure.studies == manifest.studies
    assert first.severity is not None
    assert second.severity is not None
    assert second.severity.rank > first.severity.rank


@pytest.mark.lab
def test_title_revealed_by_open_rest_is_tried_on_the_refusing_port(
    tmp_path: Path, corpus: Manifest
) -> None:
    with guarded(tmp_path / "orthanc") as server:
        load(server, corpus)
        findings = scan(server, tmp_path / "out.jsonl")
    # the main pass's findings (the web port first answers the DICOM probe as not DICOM),
    # then the second pass's, last
    assert [(f.port, f.status) for f in findings if f.result is not None][-1] == (
        server.port,
        "dicom",
    )
    check_second_pass(findings, corpus, f"orthanc-rest /system on port {server.http_port}")
    text = (tmp_path / "out.jsonl").read_text()
    assert not any(canary in text for canary in corpus.canaries)


@pytest.mark.lab
def test_title_behind_a_default_rest_login_needs_try_default_credentials(
    tmp_path: Path, corpus: Manifest
) -> None:
    # Debian's file sets AuthenticationEnabled only inside a comment: both keys are added
    login = {"AuthenticationEnabled": True, "RegisteredUsers": {"orthanc": "orthanc"}}
    with guarded(tmp_path / "orthanc", added=login) as server:
        load(server, corpus, ("orthanc", "orthanc"))
        without = scan(server, tmp_path / "plain.jsonl")
        found = scan(server, tmp_path / "creds.jsonl", "--try-default-credentials")
    assert [r.ae_policy for r in dicom_records(without)] == [AePolicy.CALLED_AE_ENFORCED]
    source = f"orthanc-rest /system on port {server.http_port} with a default login"
    check_second_pass(found, corpus, source)


def plan_for(server: Running, out: Path, *, resume: bool) -> ScanPlan:
    hasher = KeyedHasher(bytes(range(32)))
    return make_plan(
        targets=["127.0.0.1"],
        input_files=[],
        exclude_files=[],
        ports=(server.port, server.http_port),
        engine=EngineOptions(concurrency=8, host_timeout=30.0),
        dicom=DicomOptions(tls_ports=frozenset(), depth=Depth.EXPOSURE, hasher=hasher),
        output=out,
        http=HttpOptions(hasher=hasher),
        scale=ScaleOptions(seed=7, state=out.with_suffix(".state"), resume=resume),
    )


@pytest.mark.lab
def test_a_scan_killed_before_its_second_pass_resumes_with_it(
    tmp_path: Path, corpus: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the second pass: every main-pass finding is on disk, the state stays
    incomplete; --resume scans nothing again, reads the output back and runs the second pass."""
    out = tmp_path / "out.jsonl"

    async def interrupted(*_args: object) -> list[Finding]:
        raise KeyboardInterrupt

    with guarded(tmp_path / "orthanc") as server:
        load(server, corpus)
        with monkeypatch.context() as patch:
            patch.setattr(run, "second_pass", interrupted)
            first = execute(plan_for(server, out, resume=False))
        assert first.interrupted
        before = out.read_bytes()
        assert [r.ae_policy for r in dicom_records(read(out))] == [AePolicy.CALLED_AE_ENFORCED]
        resumed = execute(plan_for(server, out, resume=True))
        assert not resumed.interrupted
        assert resumed.second_pass is not None
        assert resumed.second_pass.tried == 1
        assert resumed.stats.done == 0  # the main pass was complete: nothing scanned again
        again = execute(plan_for(server, out, resume=True))  # complete: nothing changes
    assert again.second_pass is None
    assert out.read_bytes().startswith(before)
    check_second_pass(read(out), corpus, f"orthanc-rest /system on port {server.http_port}")


def read(out: Path) -> list[Finding]:
    return [msgspec.json.decode(line, type=Finding) for line in out.read_bytes().splitlines()]


@pytest.mark.lab
def test_second_pass_after_a_local_cluster_scan(tmp_path: Path, corpus: Manifest) -> None:
    """``--cluster local:2``: the main pass runs as tasks on two worker processes, the second
    pass in the client afterwards, on the findings the tasks sent back. With ``-q`` nothing but
    errors may reach stderr: no Dask log line, no traceback of its queue polling."""
    out = tmp_path / "out.jsonl"
    with guarded(tmp_path / "orthanc") as server:
        load(server, corpus)
        ports = f"{server.port},{server.http_port}"
        argv = [*PACSAUDIT, "scan", "127.0.0.1", "-p", ports, "--depth", "exposure", "-q"]
        argv += ["-o", str(out), "--cluster", "local:2", "--tasks", "2"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert r.returncode in (0, 3), r.stderr
    # before the poll was changed: "ERROR:distributed.core:Exception while handling op
    # queue_get" and a TimeoutError traceback, several per run (dask/distributed#2855)
    assert "queue_get" not in r.stderr
    assert [line for line in r.stderr.splitlines() if line.strip()] == []
    check_second_pass(read(out), corpus, f"orthanc-rest /system on port {server.http_port}")
