"""The ``inspect`` and ``deid`` commands end to end, as a user runs them, in subprocesses."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from pacsaudit.deid.canary import CanaryFile, find_canaries, make_dataset, write_corpus
from pacsaudit.deid.run import TMP_SUFFIX
from pacsaudit.inspection.files import METADATA_DIR
from pacsaudit.inspection.model import DeidSummary, FileProblem, InspectSummary, decode_record

PACSAUDIT = [sys.executable, "-m", "pacsaudit"]


def _run(
    args: list[str], cwd: Path, preexec: object = None, wrapper: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / "config"), "COLUMNS": "160"}
    return subprocess.run(
        [*(wrapper or []), *PACSAUDIT, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=preexec,  # type: ignore[arg-type]
    )


def _canaries(entries: list[CanaryFile]) -> set[str]:
    return {c for e in entries for values in e.canaries.values() for c in values}


def test_deid_then_inspect_proves_zero_residual(tmp_path: Path) -> None:
    entries = write_corpus(tmp_path / "in", 40, patients=5)
    deid = _run(["deid", "in", "out", "-o", "deid.jsonl"], tmp_path)
    assert deid.returncode == 0, deid.stderr
    assert "written" in deid.stderr
    key = tmp_path / "config" / "pacsaudit" / "deid.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"  # created on first use
    before = _run(["inspect", "in", "-o", "in.jsonl", "--fail-on-identifying"], tmp_path)
    assert before.returncode == 1  # the originals do carry PHI
    after = _run(["inspect", "out", "-o", "out.jsonl", "--fail-on-identifying"], tmp_path)
    assert after.returncode == 0, after.stderr
    assert "no identifying Annex E values left" in after.stderr
    records = [decode_record(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    summary = records[-1]
    assert isinstance(summary, InspectSummary)
    assert summary.dicom_files == 40
    assert summary.identifying_attributes == 0
    # No canary in anything the commands printed or wrote, the key never in an output.
    secret = key.read_text().strip()
    blobs = [deid.stdout, deid.stderr, before.stdout, before.stderr, after.stdout, after.stderr]
    for path in [*(tmp_path / "out").rglob("*"), *tmp_path.glob("*.jsonl")]:
        if path.is_file():
            blobs.append(path.read_bytes().decode("latin-1"))
    for blob in blobs:
        assert find_canaries(blob.encode("latin-1", "replace"), _canaries(entries)) == []
        assert secret not in blob


def test_inspect_reports_bad_files_and_goes_on(tmp_path: Path) -> None:
    write_corpus(tmp_path / "share", 5, patients=2)
    (tmp_path / "share" / "IM0001").write_bytes(b"\x00" * 64)  # no extension, not DICOM
    good = next((tmp_path / "share").rglob("*.dcm")).read_bytes()
    (tmp_path / "share" / "cut.dcm").write_bytes(good[:300])
    done = _run(["inspect", "share", "-o", "r.jsonl", "-j", "2"], tmp_path)
    assert done.returncode == 0, done.stderr
    records = [decode_record(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    problems = {r.path: r.error for r in records if isinstance(r, FileProblem)}
    assert problems == {
        "IM0001": "not-dicom",
        "cut.dcm": "truncated",
        "canary-manifest.json": "not-dicom",
    }
    summary = records[-1]
    assert isinstance(summary, InspectSummary)
    assert summary.dicom_files == 5


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_unreadable_file_is_reported_even_for_root(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write_corpus(src, 3, patients=1)
    locked = next(src.rglob("*.dcm"))
    locked.chmod(0)
    # root reads anything; without the DAC capabilities it meets permissions like anyone
    caps = "-dac_override,-dac_read_search"
    wrapper = ["setpriv", "--bounding-set", caps, "--inh-caps", caps] if os.geteuid() == 0 else []
    try:
        done = _run(["deid", "in", "out", "-o", "d.jsonl", "-j", "1"], tmp_path, wrapper=wrapper)
    finally:
        locked.chmod(0o644)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "d.jsonl").read_text()
    assert '"error":"unreadable"' in lines
    assert not (tmp_path / "out" / locked.relative_to(src)).exists()
    assert len([p for p in (tmp_path / "out").rglob("*.dcm")]) == 2


def _limit_file_size() -> None:
    """A file-size limit makes writes past it fail with EFBIG, as a full disk fails them."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_write_failure_leaves_nothing_half_written(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for index, rows in ((0, 32), (1, 256), (2, 32)):  # the 256x256 image is over the limit
        ds, _ = make_dataset(index, rows=rows)
        ds.save_as(src / f"img{index}.dcm", implicit_vr=True, little_endian=True)
    done = _run(["deid", "in", "out", "-o", "d.jsonl", "-j", "1"], tmp_path, _limit_file_size)
    assert done.returncode == 0, done.stderr
    assert (
        '"path":"img1.dcm","status":"skipped","error":"no-space"'
        in (tmp_path / "d.jsonl").read_text()
    )
    left = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != METADATA_DIR)
    assert left == ["img0.dcm", "img2.dcm"]  # no partial img1, no temporary file


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    write_corpus(tmp_path / "in", 2, patients=1)
    done = _run(["deid", "in", "in/out"], tmp_path)
    assert done.returncode == 2
    assert "must not contain" in done.stderr
    missing = _run(["inspect", "nowhere"], tmp_path)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr


def test_ctrl_c_then_resume(tmp_path: Path) -> None:
    entries = write_corpus(tmp_path / "in", 600, patients=20)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    log = tmp_path / "out" / METADATA_DIR / "deid-log.jsonl"
    proc = subprocess.Popen(
        [*PACSAUDIT, "deid", "in", "out", "-q", "-j", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(3000):  # at most 30 s: interrupt once some files are done
            if proc.poll() is not None or (log.exists() and log.stat().st_size > 2000):
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code in (0, 130)  # 0 only if it finished before the signal arrived
    out = tmp_path / "out"
    assert not [p for p in out.rglob(f"*{TMP_SUFFIX}")]  # nothing half-written
    for path in out.rglob("*.dcm"):
        pydicom.dcmread(path, force=True)  # every file there is whole
    done = _run(["deid", "in", "out", "-q", "-o", "again.jsonl"], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = decode_record((tmp_path / "again.jsonl").read_text().splitlines()[-1])
    assert isinstance(summary, DeidSummary)
    assert summary.written + summary.already_done == len(entries)
    assert len(list(out.rglob("*.dcm"))) == len(entries)
