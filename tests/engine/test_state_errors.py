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
