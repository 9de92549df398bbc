"""The ``inspect`` and ``deid`` commands end to end, as a user runs them, in subprocesses."""

from __future__ import annotations

import contextlib
import hashlib
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
from pacsaudit.deid.journal import JOURNAL_FILE, read_journal
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
    # every output is vouched for by the journal, and none holds a canary
    journal = read_journal(out / METADATA_DIR / JOURNAL_FILE)
    assert set(journal) == {e.path for e in entries}
    for entry in entries[::7]:
        data = (out / entry.path).read_bytes()
        assert find_canaries(data, _canaries([entry])) == [], entry.path
        line = journal[entry.path]
        if line.header_size is None:  # written whole from memory
            assert hashlib.sha256(data).hexdigest() == line.sha256
        else:  # the header written, then the input's pixel data copied
            header, copied = data[: line.header_size], data[line.header_size :]
            assert hashlib.sha256(header).hexdigest() == line.sha256
            assert copied == (tmp_path / "in" / entry.path).read_bytes()[line.tail_offset :]


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """A usage error: exit 2 and one ``error:`` line on stderr, never a traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def bad_inputs(tmp_path: Path) -> Path:
    """IN with two fake patients, and the odd files the audit fed the commands."""
    write_corpus(tmp_path / "in", 2, patients=1)
    (tmp_path / "good.txt").write_text("a plain file\n")
    (tmp_path / "bin.key").write_bytes(bytes(range(256)))
    (tmp_path / "bin.key").chmod(0o600)
    (tmp_path / "object.json").write_text('{"a":1}')
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "in", "-o", "in"], "lies inside"),
        (["inspect", "in", "-o", "good.txt/x"], "Not a directory"),
        (["deid", "in", "good.txt"], "is a file"),
        (["deid", "in", "good.txt/o"], "Not a directory"),
        (["deid", "in", "out", "--key-file", "good.txt/k"], "is not a folder"),
        (["deid", "in", "out", "--key-file", "bin.key"], "does not hold a hex key"),
        (["deid", "in", "out", "--retain-safe-private", "object.json"], '"creator"'),
        (["inspect", "in", "-j", "0"], "at least 1"),
        (["inspect", "in", "-j", "-1"], "at least 1"),
        (["deid", "in", "out", "-j", "0"], "at least 1"),
    ],
)
def test_bad_input_is_one_clear_line(bad_inputs: Path, args: list[str], message: str) -> None:
    assert message in _one_line_error(_run(args, bad_inputs))


def test_deid_never_counts_a_file_it_did_not_write(tmp_path: Path) -> None:
    """``cp IN/x.dcm PRE/; deid IN PRE`` and ``deid OUT1 IN`` used to exit 0 and leave PHI."""
    entries = write_corpus(tmp_path / "in", 3, patients=1)
    original = tmp_path / "in" / entries[0].path
    (tmp_path / "pre").mkdir()
    shutil.copy2(original, tmp_path / "pre" / "good1.dcm")
    assert "no deid run wrote it" in _one_line_error(_run(["deid", "in", "pre"], tmp_path))
    assert (tmp_path / "pre" / "good1.dcm").read_bytes() == original.read_bytes()
    assert _run(["deid", "in", "out1", "-q"], tmp_path).returncode == 0
    before = original.read_bytes()
    assert "no deid run wrote it" in _one_line_error(_run(["deid", "out1", "in"], tmp_path))
    assert original.read_bytes() == before


def test_output_option_never_destroys_a_file(tmp_path: Path) -> None:
    entries = write_corpus(tmp_path / "in", 2, patients=1)
    dicom = f"in/{entries[0].path}"
    original = (tmp_path / dicom).read_bytes()
    for args in (["inspect", "in", "-o", dicom], ["deid", "in", "out", "-o", dicom]):
        assert "lies inside" in _one_line_error(_run(args, tmp_path))
    assert (tmp_path / dicom).read_bytes() == original
    (tmp_path / "prev.jsonl").write_text("earlier\n")
    for args in (["inspect", "in"], ["deid", "in", "out2"]):
        refused = _run([*args, "-q", "-o", "prev.jsonl"], tmp_path)
        assert "--overwrite" in _one_line_error(refused)
        assert (tmp_path / "prev.jsonl").read_text() == "earlier\n"
    replaced = _run(["inspect", "in", "-q", "-o", "prev.jsonl", "--overwrite"], tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert "inspect-summary" in (tmp_path / "prev.jsonl").read_text()


def _limit_file_size_to_2k() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


def test_records_that_cannot_be_written_are_an_error(tmp_path: Path) -> None:
    """A full disk (here a file-size limit, as ``-o /dev/full`` gives ENOSPC) used to exit 0."""
    write_corpus(tmp_path / "in", 12, patients=2)
    to_file = _run(["inspect", "in", "-q", "-o", "r.jsonl"], tmp_path, _limit_file_size_to_2k)
    assert "cannot write r.jsonl: File too large" in _one_line_error(to_file)
    with (tmp_path / "stdout.jsonl").open("wb") as stdout:
        to_stdout = subprocess.run(
            [*PACSAUDIT, "inspect", "in", "-q"],
            cwd=tmp_path,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=_limit_file_size_to_2k,
        )
    assert to_stdout.returncode == 2
    assert "cannot write the records to standard output" in to_stdout.stderr
    assert "Traceback" not in to_stdout.stderr
    deid = _run(["deid", "in", "out", "-q", "-o", "d.jsonl"], tmp_path, _limit_file_size_to_2k)
    assert deid.returncode == 2
    assert "Traceback" not in deid.stderr
    assert "error: " in deid.stderr


def test_too_many_jobs_are_capped_not_hung(tmp_path: Path) -> None:
    write_corpus(tmp_path / "in", 3, patients=1)
    started = time.monotonic()
    done = _run(["inspect", "in", "-q", "-o", "r.jsonl", "-j", "100000"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--jobs 100000 is more than this machine can use" in done.stderr
    assert time.monotonic() - started < 60


_NO_DAC = "-dac_override,-dac_read_search"


def _as_ordinary_user() -> list[str]:
    """Root meets permissions like anyone once it drops its DAC capabilities."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set", _NO_DAC, "--inh-caps", _NO_DAC]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_permission_problems_are_reported(tmp_path: Path) -> None:
    write_corpus(tmp_path / "in", 4, patients=2)
    locked = next(p for p in (tmp_path / "in").iterdir() if p.is_dir())
    (tmp_path / "ro").mkdir(mode=0o555)
    locked.chmod(0)
    try:
        inspected = _run(
            ["inspect", "in", "-q", "-o", "r.jsonl"], tmp_path, wrapper=_as_ordinary_user()
        )
        deid = _run(["deid", "in", "out", "-q"], tmp_path, wrapper=_as_ordinary_user())
        no_out = _run(["deid", "in", "ro/o"], tmp_path, wrapper=_as_ordinary_user())
    finally:
        locked.chmod(0o755)
    for done, verb in ((inspected, "inspected"), (deid, "de-identified")):
        assert done.returncode == 0, done.stderr
        assert f"warning: {locked.name}: folder could not be listed" in done.stderr
        assert f"were not {verb}" in done.stderr
    assert '"error":"unlistable"' in (tmp_path / "r.jsonl").read_text()
    assert "Permission denied" in _one_line_error(no_out)


def test_kill_9_then_resume_trusts_only_the_journal(tmp_path: Path) -> None:
    """kill -9 (no clean-up at all), a torn journal line, an original copied into OUT: the
    resumed run finishes, and no output holds a canary."""
    entries = write_corpus(tmp_path / "in", 400, patients=20)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    journal = tmp_path / "out" / METADATA_DIR / "journal.jsonl"
    proc = subprocess.Popen(
        [*PACSAUDIT, "deid", "in", "out", "-q", "-j", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the workers die with it
    )
    try:
        for _ in range(3000):  # at most 30 s: kill once some files are journaled
            if proc.poll() is not None or (journal.exists() and journal.stat().st_size > 2000):
                break
            time.sleep(0.01)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    with journal.open("ab") as fp:
        fp.write(b'{"path":"torn')  # as if killed in the middle of a line
    planted = entries[0]
    shutil.copy2(tmp_path / "in" / planted.path, tmp_path / "out" / planted.path)
    done = _run(["deid", "in", "out", "-q", "-o", "again.jsonl"], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = decode_record((tmp_path / "again.jsonl").read_text().splitlines()[-1])
    assert isinstance(summary, DeidSummary)
    assert summary.written + summary.already_done == len(entries)
    assert summary.written >= 1  # at least the planted original was done again
    for entry in entries:
        data = (tmp_path / "out" / entry.path).read_bytes()
        assert find_canaries(data, _canaries([entry])) == [], entry.path
