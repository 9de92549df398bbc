"""The resume journal: which outputs in OUT this tool wrote, so a resumed run trusts only those.

"An output file exists" does not mean "de-identified": a user may copy an original into OUT,
or point OUT at a folder of originals. A resumed run therefore counts a file as done only when
``OUT/.pacsaudit/journal.jsonl`` vouches for it: the journal line, appended after the output
was renamed into place, records the output's size and SHA-256 (and the input's size and
modification time), and the file in OUT must still match them. For an output whose pixel data
was copied from the input (:mod:`pacsaudit.deid.tail`), the SHA-256 covers the header this tool
wrote and the rest must equal the input's bytes from the recorded offset, compared byte for byte
when a run resumes: hashing 50 MB of copied pixels on every write cost more than the copy, and
the comparison proves as much (the whole output is still checked, against the input rather
than against a digest). Anything else is de-identified again. The journal belongs to the run
recorded in ``run.json`` (same options, same key); a new run starts a new journal.

Lines are appended whole by the one main process; a line torn by ``kill -9`` does not decode
and is ignored (that file is simply done again).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

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
    header_size: int | None = None
    """None: ``sha256`` is the whole output's. Else the output is the ``header_size`` bytes
    this tool wrote (``sha256`` is theirs) followed by the input's own bytes from
    ``tail_offset`` to its end (the pixel data, copied): a resumed run compares those with
    the input, byte for byte, rather than hashing them on every write."""
    tail_offset: int = 0


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


def still_written(target: Path, entry: JournalEntry, source: Path) -> bool:
    """Whether ``target`` is byte for byte the output the journal recorded: its digest, and
    for an output with a copied tail, that tail equal to ``source``'s (the input, read through
    no link and never blocking)."""
    try:
        info = target.stat()  # before opening: a FIFO put in OUT would block an open()
        if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
            return False
        with target.open("rb") as fp:
            if entry.header_size is None:
                return hashlib.file_digest(fp, "sha256").hexdigest() == entry.sha256
            header = fp.read(entry.header_size)
            if len(header) != entry.header_size:
                return False
            if hashlib.sha256(header).hexdigest() != entry.sha256:
                return False
            return _same_tail(fp, source, entry.tail_offset, entry.size - entry.header_size)
    except OSError:
        return False


_CHUNK = 1 << 20


def _same_tail(fp: BinaryIO, source: Path, offset: int, count: int) -> bool:
    """Whether the rest of ``fp`` is ``source`` from ``offset`` to its end, ``count`` bytes."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as src:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != offset + count:
            return False
        src.seek(offset)
        while count > 0:
            want = min(count, _CHUNK)
            mine = fp.read(want)
            if len(mine) != want or mine != src.read(want):
                return False
            count -= want
    return fp.read(1) == b""
