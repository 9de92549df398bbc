"""The HTTP probe against the lab's real Orthancs (open with DICOMweb; locked, random password).

Counts must equal the synthetic corpus whichever API gave them (``/statistics``, QIDO-RS), PHI
attributes must be counted and no canary value may appear in any output, at any log level.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from pacsaudit.engine.options import EngineOptions, new_event_loop_factory
from pacsaudit.lab.manager import LabInfo
from pacsaudit.measure.classify import classify
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import (
    DicomResult,
    ExposureClass,
    Finding,
    HttpResult,
    Status,
    decode_finding,
    encode_finding,
)
from pacsaudit.plan import ScanPlan
from pacsaudit.probes.catalog import build_probes
from pacsaudit.probes.dicom.probe import DicomOptions
from pacsaudit.probes.dispatch import Dispatcher
from pacsaudit.probes.http.probe import HttpOptions, HttpProbe
from pacsaudit.targets.spec import AddressSpace, Target

HASHER = KeyedHasher(b"\x11" * 32)


def probe(lab: LabInfo, service: str, **changes: object) -> Finding:
    opts = HttpOptions(hasher=HASHER, credential_interval=0.0, **changes)  # type: ignore[arg-type]
    target = Target(lab.host, lab.service(service).port)
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        return classify(runner.run(HttpProbe(opts).scan(target)))


def result_of(f: Finding) -> HttpResult:
    assert f.status is Status.HTTP, f
    assert isinstance(f.result, HttpResult)
    return f.result


def corpus(lab: LabInfo, what: str) -> int:
    value = lab.corpus[what]
    assert isinstance(value, int)
    return value


def assert_no_canary(lab: LabInfo, text: str, where: str) -> None:
    canaries = lab.corpus["canaries"]
    assert isinstance(canaries, list)
    lowered = text.lower()
    leaked = [c for c in canaries if isinstance(c, str) and c.lower() in lowered]
    assert not leaked, f"{len(leaked)} canary values in {where}"


@pytest.mark.lab
def test_open_orthanc_counts_equal_the_corpus(lab: LabInfo) -> None:
    f = probe(lab, "orthanc-http")
    r = result_of(f)
    patients, studies, instances = (corpus(lab, k) for k in ("patients", "studies", "instances"))
    # Orthanc's own tally (no patient data at all)...
    assert r.orthanc is not None
    assert not r.orthanc.auth_required
    assert r.orthanc.dicom_aet == "ORTHANC"
    assert r.orthanc.dicom_port == lab.service("orthanc").port
    assert "dicom-web" in r.orthanc.plugins
    stats = r.orthanc.statistics
    assert stats is not None
    assert (stats.patients, stats.studies, stats.instances) == (patients, studies, instances)
    assert stats.series == corpus(lab, "series")
    # ...and what an anonymous QIDO-RS client lists.
    qido = [d for d in r.dicomweb if d.service == "qido-rs"]
    assert [(d.path, d.answered, d.protected) for d in qido] == [("/dicom-web", True, False)]
    assert any(d.service == "wado-uri" and d.answered for d in r.dicomweb)
    e = r.exposure
    assert e is not None
    assert (e.patients, e.studies, e.images) == (patients, studies, instances)
    assert not e.patients_lower_bound
    assert not e.studies_lower_bound
    assert not e.images_lower_bound
    assert e.queries[0].model == "qido-rs"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber"):
        assert e.phi_attributes[keyword] == studies, keyword
    modalities = lab.corpus["modalities"]  # instances per modality; ours: studies per modality
    assert isinstance(modalities, dict)
    assert set(e.modalities) == set(modalities)
    assert sum(e.modalities.values()) >= studies
    assert e.study_years == lab.corpus["study_years"]
    assert len(e.patient_id_hashes) == patients
    products = {a.product for a in r.apps}
    assert {"Orthanc", "Orthanc Explorer"} <= products
    assert r.exposure_class is ExposureClass.PHI_READABLE
    assert_no_canary(lab, encode_finding(f).decode(), "the finding")


@pytest.mark.lab
def test_open_orthanc_at_discover_depth_reads_no_listing(lab: LabInfo) -> None:
    r = result_of(probe(lab, "orthanc-http", enumerate=False))
    assert r.exposure is None
    assert r.orthanc is not None
    assert r.orthanc.statistics is not None
    assert r.orthanc.statistics.studies == corpus(lab, "studies")
    qido = [e for e in r.exchanges if e.purpose == "qido"]
    assert [q.path for q in qido] == ["/dicom-web/studies?limit=1&offset=0"]
    assert r.exposure_class is ExposureClass.RETRIEVABLE


@pytest.mark.lab
def test_locked_orthanc_is_protected(lab: LabInfo) -> None:
    r = result_of(probe(lab, "orthanc-locked-http"))
    assert r.status_code == 401
    assert r.auth is not None
    assert (r.auth.scheme, r.auth.realm) == ("Basic", "Orthanc Secure Area")
    assert r.orthanc is not None
    assert r.orthanc.auth_required
    assert r.orthanc.statistics is None
    assert [(a.product, a.evidence, a.protected) for a in r.apps] == [("Orthanc", "realm", True)]
    assert r.exposure is None
    assert r.credentials is None
    assert not any(e.credentials for e in r.exchanges)
    assert r.exposure_class is ExposureClass.AUTH_REQUIRED


@pytest.mark.lab
def test_locked_orthanc_random_password_is_not_guessed(lab: LabInfo) -> None:
    r = result_of(probe(lab, "orthanc-locked-http", try_default_credentials=True))
    assert r.credentials is not None
    assert r.credentials.path == "/system"
    assert r.credentials.accepted_user is None
    assert r.credentials.tried >= 2  # orthanc/orthanc and Orthanc's sample alice come first
    assert r.exposure is None
    assert r.exposure_class is ExposureClass.AUTH_REQUIRED


@pytest.mark.lab
def test_unclaimed_http_port_is_identified_then_probed(lab: LabInfo) -> None:
    plan = ScanPlan(
        AddressSpace(),
        (),
        EngineOptions(),
        DicomOptions(tls_ports=frozenset(), read_timeout=2.0),
        output=None,
        http=HttpOptions(hasher=HASHER),
    )
    dispatcher = Dispatcher(build_probes(plan))
    port = lab.service("orthanc-http").port
    assert dispatcher.claimants(port) == []  # the tests' lab runs on a random port base
    with asyncio.Runner(loop_factory=new_event_loop_factory()) as runner:
        findings = runner.run(dispatcher.scan_all(Target(lab.host, port)))
    assert [(f.protocol, f.status) for f in findings] == [
        ("dicom", Status.OPEN_NOT_DICOM),
        ("http", Status.HTTP),
    ]
    assert isinstance(findings[0].result, DicomResult)
    assert (findings[0].result.banner or "").startswith("HTTP/1.")
    assert result_of(findings[1]).exposure_class is ExposureClass.PHI_READABLE


@pytest.mark.lab
def test_cli_web_scan_leaks_no_canary(lab: LabInfo, tmp_path: Path) -> None:
    """The whole command at DEBUG, credentials flag on, over both HTTP ports."""
    key = tmp_path / "key"
    key.write_text("9c" * 32 + "\n")
    key.chmod(0o600)
    out = tmp_path / "web.jsonl"
    ports = f"{lab.service('orthanc-http').port},{lab.service('orthanc-locked-http').port}"
    run = subprocess.run(
        [sys.executable, "-m", "pacsaudit", "scan", lab.host, "-p", ports, "--probe", "http",
         "--try-default-credentials", "--log-level", "DEBUG", "--key-file", str(key),
         "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    text = out.read_text("utf-8")
    findings = [decode_finding(line) for line in text.splitlines()]
    classes = {f.port: getattr(f.result, "exposure_class", None) for f in findings}
    assert classes == {
        lab.service("orthanc-http").port: ExposureClass.PHI_READABLE,
        lab.service("orthanc-locked-http").port: ExposureClass.AUTH_REQUIRED,
    }, [(f.port, f.status, f.error) for f in findings]
    assert '"PatientName":' in text
    for where, output in (("jsonl", text), ("stdout", run.stdout), ("stderr", run.stderr)):
        assert_no_canary(lab, output, where)
        assert "9c" * 32 not in output
    password = (lab.state_dir / "orthanc-locked" / "credentials").read_text().split(":", 1)[1]
    assert password.strip() not in text + run.stdout + run.stderr
