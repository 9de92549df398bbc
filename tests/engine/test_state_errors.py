"""A state the database cannot write (a full disk) is one clear StateError, never a traceback,
and what was committed before stays resumable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pacsaudit.engine.state import ScanState, StateError


class _FullDisk:
    """A connection whose every statement fails as SQLite does when the disk is full."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.rollback()

    def execute(self, *args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    def close(self) -> None:
        self.real.close()


def test_a_full_disk_is_one_clear_error(tmp_path: Path) -> None:
    state = ScanState.create(tmp_path / "s.state", {"fingerprint": "x", "seed": "1"})
    state.add_shard("0/1", "x", 10)
    state.commit(
        "0/1", position=5, pending=[], done=5, complete=False, batch=b"{}\n", output_start=0
    )
    state._conn = _FullDisk(state._conn)  # type: ignore[assignment]
    with pytest.raises(StateError, match=r"cannot write the scan state .*--resume"):
        state.commit(
            "0/1", position=9, pending=[], done=9, complete=False, batch=b"", output_start=3
        )
    with pytest.raises(StateError, match="database or disk is full"):
        state.mark_complete()
    state.close()
    again = ScanState.load(tmp_path / "s.state")  # the last good commit is still there
    assert again.output_length == 3
    assert not again.complete
    again.close()


def test_checking_a_state_before_replacing_it_writes_nothing(tmp_path: Path) -> None:
    """A new scan checks the old state (complete, ours) through a read-only connection: the
    file is not opened for writing (nothing is logged in a WAL beside it), and a new state
    made in one transaction replaces it whole."""
    path = tmp_path / "scan.state"
    state = ScanState.create(path, {"fingerprint": "a"})
    state.add_shards([("0/1", "a", 10)])
    state.mark_complete()
    state.close()
    before = path.read_bytes()
    ScanState.check_replaceable(path)
    assert path.read_bytes() == before
    wal = tmp_path / "scan.state-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    new = ScanState.create(path, {"fingerprint": "b"})
    assert new.meta()["fingerprint"] == "b"
    assert new.meta()["complete"] == "0"
    assert new.shards() == {}
    new.close()
    unfinished = ScanState.create(tmp_path / "other.state", {"fingerprint": "c"})
    unfinished.close()
    with pytest.raises(StateError, match="unfinished scan"):
        ScanState.check_replaceable(tmp_path / "other.state")
