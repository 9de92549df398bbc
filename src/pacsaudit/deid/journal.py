"""The resume journal: which outputs in OUT this tool wrote, so a resumed run trusts only those.

"An output file exists" does not mean "de-identified": a user may copy an original into OUT,
or point OUT at a folder of originals. A resumed run therefore counts a file as done only when
``OUT/.pacsaudit/journal.jsonl`` vouches for it: the journal line, appended after the output
was renamed into place, records the output's size and SHA-256 (and the input's size and
modification time), and the file in OUT must still match them. Anything else is de-identified
again. The journal belongs to the run recorded in ``run.json`` (same options, same key); a new
run starts a new journal.

Lines are appended whole by the one main process; a line torn by ``kill -9`` does not decode
and is ignored (that file is simply done again).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import msgspec

JOURNAL_FILE = "journal.jsonl"


class JournalEntry(msgspec.Struct, frozen=True):
    """One output this tool wrote, and how to recognise it unchanged."""

    path: str
    """Relative to IN and OUT."""
    source_size: int
    source_mtime_ns: int
    size: int
    sha256: str
    review: list[str] = msgspec.field(default_factory=list)
    """The burned-in verdict, kept so a resumed run lists the file for review again."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JournalEntry)


def encode_entry(entry: JournalEntry) -> bytes:
    return _encoder.encode(entry) + b"\n"


def read_journal(path: Path) -> dict[str, JournalEntry]:
    """Every entry by relative path, the last one winning; torn or foreign lines are ignored."""
    entries: dict[str, JournalEntry] = {}
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return entries
    for line in data.splitlines():
        try:
            entry = _decoder.decode(line)
        except msgspec.DecodeError:
            continue
        entries[entry.path] = entry
    return entries


def open_journal(path: Path) -> int:
    """An append-only descriptor; a torn last line (kill -9) is closed off first so the next
    entry starts on a line of its own."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        os.write(fd, b"\n")
    return fd


def still_written(target: Path, entry: JournalEntry) -> bool:
    """Whether ``target`` is byte for byte the output the journal recorded."""
    try:
        info = target.stat()  # before opening: a FIFO put in OUT would block an open()
        if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
            return False
        with target.open("rb") as fp:
            return hashlib.file_digest(fp, "sha256").hexdigest() == entry.sha256
    except OSError:
        return False
