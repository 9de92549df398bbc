"""Crash-safe scan state: an SQLite database beside the output (``<output>.state``).

What it holds, per shard: the source's *position* (every target before it was taken), the
*pending* positions (taken but not reported: in flight, or waiting for a network slot), how many
targets are done, and whether the shard is complete. For the scan: the identity of the target
set (fingerprint), the seed, the shard split, and the output's committed length.

The ordering that loses nothing and duplicates nothing
------------------------------------------------------
Findings reach the output only in *batches*, and each batch goes through a journal:

1. make the previous batch durable (``fdatasync`` of the output);
2. in **one transaction**: the shard's new position and pending set, and the batch itself in
   the one-row ``journal`` table with the output offset it will start at;
3. append the batch to the output (``os.write`` of whole lines).

``kill -9`` between any two steps leaves a state that explains the output exactly. Before 2
commits, neither the batch nor the new position exists: the batch's targets are still pending
and will be probed again (they were in flight: their results were not yet recorded anywhere).
After 2, the journal holds the batch: on ``--resume`` the output is cut back to the journal's
offset and the batch rewritten, so a torn last line is completed, never left, and nothing is
written twice. Memory and file size stay bounded: pending sets are bounded by the concurrency,
and the journal holds one batch.

A state that does not describe the scan being resumed (other targets, ports, seed or split), or
that is not a pacsaudit state at all, is refused with a :class:`StateError` before any packet.
"""

from __future__ import annotations

import array
import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import msgspec

from pacsaudit.usage import UsageError

FORMAT = "pacsaudit-scan-state"
VERSION = 1
PAGE_SIZE = 16384
"""SQLite page size of a new state (see :func:`_connect`)."""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE shards (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    length INTEGER NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    pending BLOB NOT NULL DEFAULT x'',
    done INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    start INTEGER NOT NULL,
    data BLOB NOT NULL
);
"""


class StateError(UsageError):
    """A state file that cannot be used for this scan; the message says why and what to do."""


class ShardProgress(msgspec.Struct, frozen=True):
    name: str
    fingerprint: str
    length: int
    position: int
    pending: tuple[int, ...]
    done: int
    complete: bool


def _pack(positions: Sequence[int]) -> bytes:
    return array.array("q", positions).tobytes()


def _unpack(blob: bytes) -> tuple[int, ...]:
    if len(blob) % 8:
        raise StateError("scan state is damaged: a pending list has a bad length")
    values = array.array("q")
    values.frombytes(blob)
    return tuple(values)


class ScanState:
    """One open state database. Use :meth:`create` for a new scan, :meth:`load` to resume."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    # -- opening ----------------------------------------------------------------------------------

    @classmethod
    def check_replaceable(cls, path: Path) -> None:
        """A new scan may replace the state at ``path`` only if it is a complete pacsaudit
        state: an unfinished scan, or a file that is no state of ours, is refused."""
        try:
            meta = cls._checked_meta(path)  # read only: the file is replaced, never written
        except StateError as exc:
            raise StateError(
                f"{path} exists and is not a usable scan state ({exc}); remove it or "
                "choose another --state"
            ) from None
        if meta.get("complete") != "1":
            raise StateError(
                f"{path} holds an unfinished scan: add --resume to continue it, or remove "
                "it to start over"
            )

    @classmethod
    def create(cls, path: Path, meta: Mapping[str, str]) -> ScanState:
        """A new state for a new scan. An existing file is replaced only if it is a complete
        pacsaudit state; an unfinished scan, or a file that is no state of ours, is refused."""
        if path.exists():
            cls.check_replaceable(path)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _connect(path)
            with conn:  # one transaction (one fsync): the schema and the scan's identity
                conn.execute("BEGIN")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                values = {"format": FORMAT, "version": str(VERSION), **meta}
                values.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                values.update(output_length="0", complete="0")
                conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(values.items()))
        except sqlite3.Error as exc:
            raise StateError(f"cannot create scan state {path}: {exc}") from None
        return cls(path, conn)

    @classmethod
    def load(cls, path: Path) -> ScanState:
        """An existing state, checked to be one of ours; damage is a :class:`StateError`.

        The check reads the file through a read-only connection: a file that turns out not to
        be ours is left exactly as it was (opening it for writing would convert it to WAL).
        """
        cls._checked_meta(path)
        try:
            conn = _connect(path)
        except sqlite3.Error as exc:
            raise StateError(f"{path} cannot be opened for writing ({exc})") from None
        return cls(path, conn)

    @classmethod
    def _checked_meta(cls, path: Path) -> dict[str, str]:
        """The meta table of the state at ``path``, checked to be one of ours, read through a
        read-only connection (a file that is not ours stays exactly as it was)."""
        if not path.is_file():
            raise StateError(f"no scan state at {path}: nothing to resume")
        try:
            probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StateError(f"{path} is not a scan state ({exc})") from None
        try:
            state = cls(path, probe)
            _check(state, path)
            return state.meta()
        finally:
            probe.close()

    def close(self) -> None:
        self._conn.close()

    # -- reading --------------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    @property
    def complete(self) -> bool:
        return self.meta().get("complete") == "1"

    @property
    def output_length(self) -> int:
        return int(self.meta().get("output_length", "0"))

    def shards(self) -> dict[str, ShardProgress]:
        rows = self._conn.execute(
            "SELECT name, fingerprint, length, position, pending, done, complete FROM shards"
        )
        out: dict[str, ShardProgress] = {}
        for name, fingerprint, length, position, pending, done, complete in rows:
            if not 0 <= int(position) <= int(length):
                raise StateError(f"shard {name}: position outside the shard")
            out[str(name)] = ShardProgress(
                str(name),
                str(fingerprint),
                int(length),
                int(position),
                _unpack(bytes(pending)),
                int(done),
                bool(complete),
            )
        return out

    def journal(self) -> tuple[int, bytes] | None:
        row = self._conn.execute("SELECT start, data FROM journal WHERE id = 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    # -- writing --------------------------------------------------------------------------------

    def add_shard(self, name: str, fingerprint: str, length: int) -> None:
        self.add_shards([(name, fingerprint, length)])

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction; a write the database refuses (a full disk, a lost file) is one
        clear StateError, not a traceback: what was committed before stays resumable."""
        try:
            with self._conn:
                yield
        except sqlite3.Error as exc:
            raise StateError(
                f"cannot write the scan state {self.path}: {exc}; the findings written so far "
                "are complete JSON lines: free space, then run the same command with --resume"
            ) from None

    def add_shards(self, shards: Iterable[tuple[str, str, int]]) -> None:
        """Every shard of the split in one transaction: a crash leaves all or none."""
        with self._writing():
            self._conn.executemany(
                "INSERT INTO shards (name, fingerprint, length) VALUES (?, ?, ?)", shards
            )

    def commit(
        self,
        shard: str,
        *,
        position: int,
        pending: Sequence[int],
        done: int,
        complete: bool,
        batch: bytes,
        output_start: int,
    ) -> None:
        """Step 2 of the ordering above: progress and the batch's journal, atomically."""
        with self._writing():
            self._conn.execute(
                "UPDATE shards SET position = ?, pending = ?, done = ?, complete = ? "
                "WHERE name = ?",
                (position, _pack(pending), done, int(complete), shard),
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO journal (id, start, data) VALUES (1, ?, ?)",
                (output_start, batch),
            )
            self._conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'output_length'",
                (str(output_start + len(batch)),),
            )

    def set_meta(self, **values: str) -> None:
        with self._writing():
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(values.items())
            )

    def mark_complete(self) -> None:
        """The scan is over: the journalled batch is in the output for good, so drop it and
        give the space back (a finished state is about 100 KB to keep beside its output)."""
        with self._writing():
            self._conn.execute("DELETE FROM journal")
            self._conn.execute("UPDATE meta SET value = '1' WHERE key = 'complete'")
        with contextlib.suppress(sqlite3.Error):  # only gives space back; complete already
            self._conn.execute("VACUUM")


def _check(state: ScanState, path: Path) -> None:
    try:
        meta = state.meta()
        state.shards()
        state.journal()
    except (sqlite3.Error, StateError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, StateError) else f"damaged or foreign: {exc}"
        raise StateError(f"{path} is not a usable scan state: {reason}") from None
    if meta.get("format") != FORMAT:
        raise StateError(f"{path} is not a pacsaudit scan state")
    if meta.get("version") != str(VERSION):
        raise StateError(
            f"{path} was written by another version of pacsaudit "
            f"(state version {meta.get('version')!r}, this one reads {VERSION})"
        )


def _connect(path: Path) -> sqlite3.Connection:
    # Used from the recorder's thread after being opened on the main one, never at once.
    conn = sqlite3.connect(path, check_same_thread=False)
    # Before the first table (on an existing state a no-op until VACUUM): a journalled batch is
    # megabytes (thousands of findings of a few KB), written as overflow pages, to the WAL and
    # again at checkpoints. 16 KiB pages write it in a quarter of the 4 KiB default's system
    # calls (a 4,096-host exposure sweep: 6 % less CPU); a finished state is then about 100 KB.
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    # WAL: a commit is one append and one fsync; FULL: the fsync happens at every commit, so a
    # power cut cannot take back a batch the output already shows.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    # A batch's bytes are deleted once the output holds them. Debian's SQLite zeroes deleted
    # content by default (SECURE_DELETE): every freed overflow page was written again, as
    # zeros, to the WAL (a batch's megabytes twice more). FAST zeroes only inside pages that
    # are written anyway; what a freed page keeps is a copy of lines the output already has.
    conn.execute("PRAGMA secure_delete=FAST")
    return conn
