"""What ``deid`` checks before its first file: the safe private list, the key, ``-o``, ``-j``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsaudit.deid.canary import write_corpus
from pacsaudit.deid.command import load_safe_private, run_deid_command
from pacsaudit.deid.keys import load_or_create_key
from pacsaudit.inspection.model import DeidSummary, decode_record
from pacsaudit.inspection.pool import MAX_JOBS, check_jobs, max_jobs
from pacsaudit.usage import UsageError

SHAPE = '{"creator": "...", "element": "0x10"}'


@pytest.mark.parametrize(
    "content",
    [
        b'{"a": 1}',  # an object, not a list: used to say "string indices must be integers"
        b'[{"a": 1}]',
        b"[1]",
        b'[{"creator": "ACME", "element": "zz"}]',
        b'[{"creator": "ACME", "element": 70000}]',
        b'[{"creator": "", "element": "0x10"}]',
        b"not json",
        b"\xff\xfe\x00binary",
    ],
)
def test_safe_private_list_errors_say_what_the_file_must_hold(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "safe.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as info:
        load_safe_private(path)
    message = str(info.value)
    assert SHAPE in message
    assert "indices" not in message
    assert "\n" not in message


def test_safe_private_list_accepts_strings_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "safe.json"
    path.write_text(
        '[{"creator": " ACME 1.1 ", "element": "0x10"}, {"creator": "B", "element": 4113}]'
    )
    assert load_safe_private(path) == {("acme 1.1", 0x10), ("b", 0x11)}


def test_unusable_key_files_are_one_clear_line(tmp_path: Path) -> None:
    binary = tmp_path / "binary.key"
    binary.write_bytes(bytes(range(256)))
    binary.chmod(0o600)
    with pytest.raises(UsageError, match="does not hold a hex key") as info:
        load_or_create_key(binary)
    assert "UnicodeDecodeError" not in str(info.value)
    plain = tmp_path / "good.txt"
    plain.write_text("a file, not a folder")
    with pytest.raises(UsageError, match=r"good\.txt is not a folder"):
        load_or_create_key(plain / "k")
    with pytest.raises(UsageError, match=r"cannot create the key file .*Not a directory"):
        load_or_create_key(plain / "sub" / "k")


def _command(source: Path, output: Path, **kwargs: object) -> None:
    args: dict[str, object] = {
        "options": frozenset(),
        "key_file": None,
        "safe_private": None,
        "jobs": 1,
        "records_output": None,
        "console": None,
        **kwargs,
    }
    run_deid_command(source, output, **args)  # type: ignore[arg-type]


def test_key_file_inside_in_or_out_is_refused(tmp_path: Path) -> None:
    """The key never travels with the images (and is never created among the originals)."""
    write_corpus(tmp_path / "in", 1, patients=1)
    for inside in (tmp_path / "out" / "k", tmp_path / "in" / "k"):
        with pytest.raises(UsageError, match="keep the key outside IN and OUT"):
            _command(tmp_path / "in", tmp_path / "out", key_file=inside)
        assert not inside.exists()


def test_records_of_a_resumed_run_are_appended(tmp_path: Path) -> None:
    """Running the same command again keeps the first run's records; another file needs
    --overwrite, and another OUT does not append to this run's records."""
    write_corpus(tmp_path / "in", 2, patients=1)
    key = tmp_path / "k"
    records = tmp_path / "d.jsonl"
    src, out = tmp_path / "in", tmp_path / "out"
    _command(src, out, key_file=key, records_output=records)
    first = records.read_bytes()
    _command(src, out, key_file=key, records_output=records)
    data = records.read_bytes()
    assert data.startswith(first)
    summaries = [decode_record(line) for line in data.splitlines()]
    done = [s for s in summaries if isinstance(s, DeidSummary)]
    assert [(s.written, s.already_done) for s in done] == [(2, 0), (0, 2)]
    with pytest.raises(UsageError, match="--overwrite"):
        _command(src, tmp_path / "other", key_file=key, records_output=records)
    assert records.read_bytes() == data
    _command(src, tmp_path / "other", key_file=key, records_output=records, overwrite=True)
    assert records.read_bytes().count(b'"deid-summary"') == 1


@pytest.mark.parametrize("jobs", [0, -1])
def test_jobs_below_one_are_refused(jobs: int) -> None:
    with pytest.raises(UsageError, match="at least 1"):
        check_jobs(jobs)


def test_jobs_are_capped_with_a_note() -> None:
    assert check_jobs(1) == (1, None)
    workers, note = check_jobs(100_000)
    assert workers == max_jobs() <= MAX_JOBS
    assert note is not None
    assert "100000" in note
