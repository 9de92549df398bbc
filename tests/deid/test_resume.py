"""Resuming trusts only what deid wrote: the OUT marker, the journal, and a bad OUT or full log.

Every test here would have passed a file holding PHI off as de-identified (or crashed with a
traceback) before the journal existed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from pacsaudit.deid import run as deid_run
from pacsaudit.deid.canary import CanaryFile, find_canaries, write_corpus
from pacsaudit.deid.journal import JOURNAL_FILE, encode_entry, read_journal
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import DeidPlan, run_deid
from pacsaudit.inspection.files import METADATA_DIR
from pacsaudit.usage import UsageError

Corpus = tuple[Path, list[CanaryFile]]


def _canaries(entry: CanaryFile) -> list[str]:
    return [c for values in entry.canaries.values() for c in values]


def _small_corpus(tmp_path: Path, n: int = 6) -> Corpus:
    root = tmp_path / "in"
    return root, write_corpus(root, n, patients=2)


def test_out_holding_files_no_run_wrote_is_refused(tmp_path: Path, key: bytes) -> None:
    """The audit's ``cp IN/x.dcm PRE/; deid IN PRE``: the original must not count as done."""
    root, entries = _small_corpus(tmp_path)
    pre = tmp_path / "pre"
    original = root / entries[0].path
    copied = pre / entries[0].path
    copied.parent.mkdir(parents=True)
    shutil.copy2(original, copied)
    with pytest.raises(UsageError, match="not empty and no deid run wrote it"):
        run_deid(DeidPlan(root, pre, DeidOptions(), key))
    assert copied.read_bytes() == original.read_bytes()  # refused before touching anything
    assert not (pre / METADATA_DIR).exists()


def test_deid_into_a_folder_of_originals_is_refused(tmp_path: Path, key: bytes) -> None:
    """``deid OUT1 IN``: IN is not empty and unmarked, so it is never written to."""
    root, _ = _small_corpus(tmp_path)
    out1 = tmp_path / "out1"
    run_deid(DeidPlan(root, out1, DeidOptions(), key))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(UsageError, match="no deid run wrote it"):
        run_deid(DeidPlan(out1, root, DeidOptions(), key))
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_empty_out_and_metadata_only_out_are_accepted(tmp_path: Path, key: bytes) -> None:
    """An empty folder, or one left with only our metadata by a run killed at its start."""
    root, entries = _small_corpus(tmp_path, 3)
    (tmp_path / "empty").mkdir()
    assert run_deid(DeidPlan(root, tmp_path / "empty", DeidOptions(), key)).summary.written == 3
    half = tmp_path / "half"
    (half / METADATA_DIR).mkdir(parents=True)
    (half / METADATA_DIR / JOURNAL_FILE).write_text('{"path": "stale"}\n')
    assert run_deid(DeidPlan(root, half, DeidOptions(), key)).summary.written == len(entries)


def test_resume_redoes_outputs_the_journal_does_not_vouch_for(tmp_path: Path, key: bytes) -> None:
    root, entries = _small_corpus(tmp_path)
    out = tmp_path / "out"
    first = run_deid(DeidPlan(root, out, DeidOptions(), key))
    assert first.summary.written == len(entries)
    journal = read_journal(out / METADATA_DIR / JOURNAL_FILE)
    assert set(journal) == {e.path for e in entries}
    # An original copied over an output, and an output edited in place at the same size.
    shutil.copy2(root / entries[0].path, out / entries[0].path)
    edited = out / entries[1].path
    data = bytearray(edited.read_bytes())
    data[-1] ^= 0xFF
    edited.write_bytes(bytes(data))
    second = run_deid(DeidPlan(root, out, DeidOptions(), key))
    status = {f.path: f.status for f in second.files}
    assert status[entries[0].path] == status[entries[1].path] == "written"
    assert second.summary.already_done == len(entries) - 2
    for entry in entries:
        assert find_canaries((out / entry.path).read_bytes(), _canaries(entry)) == [], entry.path


def test_copied_pixel_data_is_checked_against_the_input(tmp_path: Path, key: bytes) -> None:
    """The journal hashes only the header it wrote; the copied pixel data is compared with
    the input's when a run resumes: an output edited anywhere, header or pixels, is redone,
    and so is one whose input lost its tail (same size and time kept, content changed)."""
    root, entries = _small_corpus(tmp_path, 5)
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    journal = read_journal(out / METADATA_DIR / JOURNAL_FILE)
    line = journal[entries[0].path]
    assert line.header_size is not None  # these outputs take the copy path
    assert (
        line.size == line.header_size + (root / entries[0].path).stat().st_size - line.tail_offset
    )

    def flip(path: Path, at: int) -> None:
        data = bytearray(path.read_bytes())
        data[at] ^= 0x01
        path.write_bytes(bytes(data))

    flip(out / entries[0].path, line.header_size - 2)  # the header
    flip(out / entries[1].path, journal[entries[1].path].header_size + 3)  # first pixel bytes
    source = root / entries[2].path  # the input changed in place, size and time kept
    info = source.stat()
    flip(source, info.st_size - 1)
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns))
    again = run_deid(DeidPlan(root, out, DeidOptions(), key))
    status = {f.path: f.status for f in again.files}
    assert [status[e.path] for e in entries] == ["written"] * 3 + ["already-done"] * 2
    assert (out / entries[2].path).read_bytes().endswith(source.read_bytes()[-64:])


def test_journal_lines_of_whole_file_digests_still_vouch(tmp_path: Path, key: bytes) -> None:
    """A journal written before headers were hashed apart (one SHA-256 of the whole output,
    no header size) still vouches for unchanged outputs."""
    root, entries = _small_corpus(tmp_path, 3)
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    path = out / METADATA_DIR / JOURNAL_FILE
    lines = []
    for entry in read_journal(path).values():
        whole = hashlib.sha256((out / entry.path).read_bytes()).hexdigest()
        old = msgspec.structs.replace(entry, sha256=whole, header_size=None, tail_offset=0)
        lines.append(encode_entry(old))
    path.write_bytes(b"".join(lines))
    again = run_deid(DeidPlan(root, out, DeidOptions(), key))
    assert again.summary.already_done == len(entries)


def test_a_changed_input_is_done_again(tmp_path: Path, key: bytes) -> None:
    root, entries = _small_corpus(tmp_path, 3)
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    changed = root / entries[2].path
    info = changed.stat()
    os.utime(changed, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    again = run_deid(DeidPlan(root, out, DeidOptions(), key))
    assert {f.path: f.status for f in again.files}[entries[2].path] == "written"
    assert again.summary.already_done == 2


def test_torn_journal_line_is_ignored_and_closed_off(tmp_path: Path, key: bytes) -> None:
    """kill -9 in the middle of a journal line: that file is redone, later lines stay whole."""
    root, entries = _small_corpus(tmp_path, 4)
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    journal = out / METADATA_DIR / JOURNAL_FILE
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:20])  # the last entry torn
    (out / entries[-1].path).unlink()
    again = run_deid(DeidPlan(root, out, DeidOptions(), key))
    assert (again.summary.written, again.summary.already_done) == (1, len(entries) - 1)
    assert set(read_journal(journal)) == {e.path for e in entries}


def test_out_that_is_a_file_or_cannot_be_created_is_one_usage_error(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = _small_corpus(tmp_path, 1)
    plain = tmp_path / "good.txt"
    plain.write_text("not a folder")
    with pytest.raises(UsageError, match="is a file"):
        run_deid(DeidPlan(root, plain, DeidOptions(), key))
    with pytest.raises(UsageError, match="Not a directory"):
        run_deid(DeidPlan(root, plain / "o", DeidOptions(), key))

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)  # as root, a 0555 folder would not stop us
    with pytest.raises(UsageError, match=r"cannot use OUT .*Permission denied"):
        run_deid(DeidPlan(root, tmp_path / "ro" / "o", DeidOptions(), key))


def test_damaged_run_record_is_a_usage_error(tmp_path: Path, key: bytes) -> None:
    root, _ = _small_corpus(tmp_path, 1)
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    (out / METADATA_DIR / deid_run.RUN_FILE).write_bytes(b"\x00{")
    with pytest.raises(UsageError, match="damaged"):
        run_deid(DeidPlan(root, out, DeidOptions(), key))


def test_full_log_stops_the_run_with_a_usage_error(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OUT's own log cannot be written: one clear error, and what was written stays whole."""
    root, _ = _small_corpus(tmp_path, 3)

    def full(fd: int, line: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(deid_run, "_append_line", full)
    with pytest.raises(UsageError, match=r"No space left on device.*run the same command"):
        run_deid(DeidPlan(root, tmp_path / "out", DeidOptions(), key))


def test_short_log_write_is_taken_back(tmp_path: Path) -> None:
    """A line cut short by a full disk is removed, so the log never holds a torn line."""
    path = tmp_path / "log"
    path.write_bytes(b"whole\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    real_write = os.write

    def short(fd_: int, data: bytes) -> int:
        return real_write(fd_, bytes(data[:3]))

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "write", short)
            with pytest.raises(OSError, match="No space"):
                deid_run._append_line(fd, b"second line\n")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"whole\n"


def test_unlistable_folder_is_reported_not_skipped(
    tmp_path: Path, key: bytes, deny_listing: Callable[[Path], None]
) -> None:
    """A folder os.walk cannot list (mode 000 for a non-root user) is simulated, so the test
    runs as root too."""
    root, entries = _small_corpus(tmp_path, 4)
    locked = root / Path(entries[0].path).parts[0]
    deny_listing(locked)
    result = run_deid(DeidPlan(root, tmp_path / "out", DeidOptions(), key))
    by_path = {f.path: f for f in result.files}
    assert by_path[locked.name].error == "unlistable"
    assert result.summary.skipped["unlistable"] == 1
    assert result.warnings == [
        f"{locked.name}: folder could not be listed: permission denied; "
        "the files in it were not de-identified"
    ]


def test_review_list_keeps_outputs_of_earlier_runs(tmp_path: Path, key: bytes) -> None:
    """A file listed for pixel review stays listed while its output is in OUT, even when the
    next run no longer sees its input (moved away) or stops early."""
    root, entries = _small_corpus(tmp_path, 6)
    out = tmp_path / "out"
    first = run_deid(DeidPlan(root, out, DeidOptions(), key))
    review_file = out / METADATA_DIR / "review.jsonl"
    listed = review_file.read_text().splitlines()
    assert first.summary.review == len(listed) > 0
    for entry in entries:
        if entry.burned_in:
            (root / entry.path).unlink()  # its output stays in OUT
    second = run_deid(DeidPlan(root, out, DeidOptions(), key))
    assert review_file.read_text().splitlines() == listed
    assert second.summary.review == len(listed)
