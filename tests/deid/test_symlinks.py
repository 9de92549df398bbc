"""deid and inspect never follow a symbolic link under IN, and print hostile names as data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pacsaudit.deid.canary import make_dataset, write_corpus
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import DeidPlan, run_deid
from pacsaudit.inspection.files import FileError, ReadFailure, display_path, read_dicom, walk
from pacsaudit.inspection.inspect import inspect_paths
from pacsaudit.inspection.model import decode_record

KEY = bytes(range(32))
HOSTILE = "x\x1b[2J\x1b]8;;https:evil.example\x07link\x1b]8;;\x07\u202egpj.dcm"
"""A file name that clears the screen, opens a hyperlink and reverses the text after it."""


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    """IN with two real files, a link to a DICOM file outside IN, a link to a folder outside
    IN, and a dangling link; returns IN and the outside folder."""
    outside = tmp_path / "elsewhere"
    write_corpus(outside, 2, patients=1)
    src = tmp_path / "in"
    write_corpus(src, 2, patients=1)
    dicom = next(outside.rglob("*.dcm"))
    os.symlink(dicom, src / "pulled-in.dcm")
    os.symlink(outside, src / "folder-link")
    os.symlink(tmp_path / "nowhere.dcm", src / "dangling.dcm")
    return src, outside


def test_deid_skips_file_and_folder_links_with_a_count(tmp_path: Path) -> None:
    src, _ = _tree(tmp_path)
    out = tmp_path / "out"
    result = run_deid(DeidPlan(src, out, DeidOptions(), KEY))
    assert result.summary.written == 2
    assert result.summary.skipped[str(FileError.SYMLINK)] == 3
    written = sorted(p.name for p in out.rglob("*.dcm"))
    assert len(written) == 2
    assert not (out / "pulled-in.dcm").exists()
    assert not (out / "folder-link").exists()
    skipped = {f.path for f in result.files if f.error is FileError.SYMLINK}
    assert skipped == {"pulled-in.dcm", "folder-link", "dangling.dcm"}


def test_inspect_skips_links_with_a_count(tmp_path: Path) -> None:
    src, _ = _tree(tmp_path)
    summary = inspect_paths([src]).summary
    assert summary.dicom_files == 2
    assert summary.problems[str(FileError.SYMLINK)] == 3


def test_a_root_named_by_the_user_is_followed(tmp_path: Path) -> None:
    src, _ = _tree(tmp_path)
    named = src / "pulled-in.dcm"
    summary = inspect_paths([named]).summary
    assert summary.dicom_files == 1  # the user chose this file, link or not


def test_a_file_replaced_by_a_link_after_the_walk_is_not_read(tmp_path: Path) -> None:
    src, outside = _tree(tmp_path)
    candidates = [c for c in walk([src]) if c.problem is None and c.path.suffix == ".dcm"]
    victim = candidates[0].path
    victim.unlink()
    os.symlink(next(outside.rglob("*.dcm")), victim)
    with pytest.raises(ReadFailure) as failure:
        read_dicom(victim, header_only=True)
    assert failure.value.kind is FileError.SYMLINK


def test_display_path_makes_control_and_bidi_characters_visible() -> None:
    shown = display_path(Path(HOSTILE))
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert "\u202e" not in shown
    assert shown == ("x\\x1b[2J\\x1b]8;;https:evil.example\\x07link\\x1b]8;;\\x07\\u202egpj.dcm")
    assert display_path(Path("Müller/李/img.dcm")) == "Müller/李/img.dcm"  # letters stay


def test_hostile_file_names_are_never_printed_raw(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    ds, _ = make_dataset(0)
    ds.save_as(src / "good.dcm", implicit_vr=True, little_endian=True)
    (src / HOSTILE).write_bytes(b"not dicom at all")
    (src / "[bold]markup[_bold].dcm").write_bytes(b"not dicom either")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "200"}
    shown: list[bytes] = []
    for command in (["deid", "in", "out", "-o", "d.jsonl"], ["inspect", "in", "-o", "i.jsonl"]):
        done = subprocess.run(
            [sys.executable, "-m", "pacsaudit", *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for stream in (done.stdout, done.stderr):
            assert b"\x1b" not in stream
            assert b"\x07" not in stream
            assert "\u202e".encode() not in stream
        shown.append(done.stderr)
    deid_log = (tmp_path / "out" / ".pacsaudit" / "deid-log.jsonl").read_bytes()
    for blob in (
        deid_log,
        (tmp_path / "d.jsonl").read_bytes(),
        (tmp_path / "i.jsonl").read_bytes(),
    ):
        assert b"\x1b" not in blob  # escaped once, as text
        assert b"\\u001b" not in blob
        paths = [getattr(decode_record(line), "path", "") for line in blob.splitlines()]
        assert any("\\x1b[2J" in p for p in paths)
    assert b"skipped x\\x1b[2J" in shown[0]  # deid's skipped line shows the name as data
    assert b"[bold]markup[_bold].dcm" in shown[0]  # markup shown as text
