"""Privacy by design: no canary value of the lab's synthetic patients reaches any output.

The whole command runs as a user runs it, at exposure depth, with DEBUG logging, against every
lab server (dcmqrscp with its known AE titles, so that it too returns identifiers). Every
canary of the corpus (names, IDs, addresses, phone numbers, accession numbers, physicians,
institutions) is then searched for in the JSON Lines, standard output and standard error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pacsaudit.lab.manager import LabInfo


def run_scan(lab: LabInfo, out: Path, key: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    ports = ",".join(str(p) for p in lab.ports)
    tls = ",".join(str(s.port) for s in lab.services if s.tls)
    return subprocess.run(
        [
            sys.executable, "-m", "pacsaudit", "scan", lab.host, "-p", ports, "--tls-ports", tls,
            "--depth", "exposure", "--log-level", "DEBUG", "--key-file", str(key),
            "-o", str(out), *extra,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip


@pytest.mark.lab
def test_no_canary_in_any_output(lab: LabInfo, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o600)
    canaries = lab.corpus["canaries"]
    assert isinstance(canaries, list)
    assert len(canaries) > 100
    dcmqr = lab.service("dcmqrscp")
    assert dcmqr.calling_ae is not None
    assert dcmqr.called_ae is not None
    runs = [
        run_scan(lab, tmp_path / "open.jsonl", key),
        run_scan(
            lab,
            tmp_path / "known-ae.jsonl",
            key,
            "--calling-ae", dcmqr.calling_ae, "--called-ae", dcmqr.called_ae,
        ),
    ]  # fmt: skip
    texts = {}
    for n, run in enumerate(runs):
        assert run.returncode == 0, run.stderr
        texts[f"stdout {n}"] = run.stdout
        texts[f"stderr {n}"] = run.stderr
    for path in (tmp_path / "open.jsonl", tmp_path / "known-ae.jsonl"):
        texts[path.name] = path.read_text(encoding="utf-8")
    # The scans did see the identifiers: the outputs count them.
    assert '"PatientName":' in texts["open.jsonl"]
    assert '"PatientName":' in texts["known-ae.jsonl"]
    for where, text in texts.items():
        lowered = text.lower()
        leaked = [c for c in canaries if isinstance(c, str) and c.lower() in lowered]
        assert not leaked, f"{len(leaked)} canary values in {where}"
        assert "ab" * 32 not in text, f"the hash key itself appears in {where}"


@pytest.mark.lab
def test_fail_on_exit_code(lab: LabInfo, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("cd" * 32 + "\n")
    key.chmod(0o600)
    orthanc = str(lab.service("orthanc").port)
    r = subprocess.run(
        [sys.executable, "-m", "pacsaudit", "scan", lab.host, "-p", orthanc, "-q",
         "--key-file", str(key), "--fail-on", "critical", "-o", str(tmp_path / "f.jsonl")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    closed = str(lab.service("closed").port)
    r = subprocess.run(
        [sys.executable, "-m", "pacsaudit", "scan", lab.host, "-p", closed, "-q",
         "--key-file", str(key), "--fail-on", "low", "-o", str(tmp_path / "g.jsonl")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


@pytest.mark.lab
def test_world_readable_key_is_refused(lab: LabInfo, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("ef" * 32 + "\n")
    key.chmod(0o644)
    r = subprocess.run(
        [sys.executable, "-m", "pacsaudit", "scan", lab.host, "-p", "104", "--key-file", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "readable by others" in r.stderr
