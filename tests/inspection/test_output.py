"""``-o`` never destroys anything, and a folder that cannot be listed is reported, not skipped."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pacsaudit.deid.canary import write_corpus
from pacsaudit.inspection.command import run_inspect
from pacsaudit.inspection.inspect import inspect_paths
from pacsaudit.inspection.model import InspectSummary, decode_record
from pacsaudit.inspection.report import OutputMode, RecordsOutput
from pacsaudit.usage import UsageError


@pytest.fixture
def share(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    write_corpus(root, 3, patients=1)
    return root


def _first_dicom(share: Path) -> Path:
    return next(share.rglob("*.dcm"))


def test_output_inside_an_input_is_refused(share: Path) -> None:
    dicom = _first_dicom(share)
    original = dicom.read_bytes()
    for target in (dicom, share / "report.jsonl", share):
        with pytest.raises(UsageError, match="lies inside"):
            run_inspect([share], output=target, jobs=1, console=None)
    with pytest.raises(UsageError, match="lies inside"):  # the input given as a file
        run_inspect([dicom], output=dicom, jobs=1, console=None)
    assert dicom.read_bytes() == original
    assert not (share / "report.jsonl").exists()


def test_hard_link_to_an_input_is_refused(share: Path, tmp_path: Path) -> None:
    dicom = _first_dicom(share)
    link = tmp_path / "link.jsonl"
    os.link(dicom, link)
    with pytest.raises(UsageError, match="lies inside"):
        RecordsOutput.check(link, protected=[dicom], overwrite=True)


def test_existing_report_needs_overwrite(share: Path, tmp_path: Path) -> None:
    previous = tmp_path / "prev.jsonl"
    previous.write_text("earlier results\n")
    with pytest.raises(UsageError, match="--overwrite"):
        run_inspect([share], output=previous, jobs=1, console=None)
    assert previous.read_text() == "earlier results\n"
    run_inspect([share], output=previous, jobs=1, console=None, overwrite=True)
    assert isinstance(decode_record(previous.read_text().splitlines()[-1]), InspectSummary)
    empty = tmp_path / "empty.jsonl"
    empty.touch()  # nothing to lose
    assert RecordsOutput.check(empty, protected=[share], overwrite=False).mode is OutputMode.REPLACE


def test_unwritable_outputs_are_usage_errors(share: Path, tmp_path: Path) -> None:
    plain = tmp_path / "good.txt"
    plain.write_text("x")
    (tmp_path / "folder").mkdir()
    cases = {
        tmp_path / "folder": "is a folder",
        plain / "x": "Not a directory",
        plain / "sub" / "x": "Not a directory",
    }
    for target, message in cases.items():
        with pytest.raises(UsageError, match=message):
            RecordsOutput.check(target, protected=[share], overwrite=True)
    missing_parents = tmp_path / "new" / "deeper" / "r.jsonl"
    target = RecordsOutput.check(missing_parents, protected=[share], overwrite=False)
    target.write([])
    assert missing_parents.exists()


def test_write_failure_is_a_usage_error_and_leaves_no_temporary_file(
    share: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = RecordsOutput.check(tmp_path / "r.jsonl", protected=[share], overwrite=False)

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    result = inspect_paths([share])
    with pytest.raises(UsageError, match=r"cannot write .*r\.jsonl: No space left on device"):
        target.write([*result.problems, result.summary])
    assert list(tmp_path.glob("*.tmp")) == []


def test_a_device_is_written_to_not_replaced(share: Path, tmp_path: Path) -> None:
    """``-o /dev/stdout`` or a pipe: written directly, never renamed over."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = RecordsOutput.check(fifo, protected=[share], overwrite=False)
    assert target.mode is OutputMode.STREAM
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        target.write(inspect_paths([share]).problems)
        assert b"file-problem" in os.read(reader, 65536)
    finally:
        os.close(reader)
    assert fifo.is_fifo()


def test_unlistable_folder_is_counted_and_warned_about(
    share: Path, deny_listing: Callable[[Path], None]
) -> None:
    """Simulated (root reads a mode-000 folder anyway), so the test runs for every user."""
    locked = next(p for p in share.iterdir() if p.is_dir())
    deny_listing(locked)
    result = inspect_paths([share])
    assert [(p.path, p.error) for p in result.problems if p.error == "unlistable"] == [
        (locked.name, "unlistable")
    ]
    assert result.summary.problems["unlistable"] == 1
    assert result.summary.dicom_files < 3
    assert len(result.warnings) == 1
    assert "were not inspected" in result.warnings[0]


def test_unlistable_root_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    root.mkdir()

    def scandir(path: object = ".") -> object:
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(os, "scandir", scandir)
    result = inspect_paths([root])
    assert [(p.path, p.error, p.message) for p in result.problems] == [
        (".", "unlistable", "folder could not be listed: EIO")
    ]
