"""Result records of ``deid``: JSON Lines, one record per line, tagged by ``record``.

Like the scanner's findings these are :class:`msgspec.Struct` types. They hold counts, action
letters, file paths relative to IN (or their pseudonyms) and review reasons; never a value read
from a file.
"""

from __future__ import annotations

import msgspec

from pacsaudit.files.read import FileError
from pacsaudit.files.records import SCHEMA_VERSION, utc_timestamp


class DeidFile(
    msgspec.Struct, frozen=True, omit_defaults=True, tag="deid-file", tag_field="record"
):
    """One input file of ``pacsaudit deid`` and what became of it."""

    path: str
    status: str
    """``written``, ``already-done`` (resumed run) or ``skipped``."""
    error: FileError | None = None
    message: str | None = None
    review: list[str] = msgspec.field(default_factory=list)
    """Why a person must look at the pixels (burned-in text); the header is clean."""
    actions: dict[str, int] = msgspec.field(default_factory=dict)
    timestamp: str = msgspec.field(default_factory=utc_timestamp)


class DeidSummary(msgspec.Struct, frozen=True, tag="deid-summary", tag_field="record"):
    input: str
    output: str
    table: str
    options: list[str]
    files_seen: int
    written: int
    already_done: int
    skipped: dict[str, int]
    review: int
    bytes_written: int
    elapsed_s: float
    files_per_s: float
    interrupted: bool = False
    timestamp: str = msgspec.field(default_factory=utc_timestamp)
    schema_version: int = SCHEMA_VERSION


DeidRecord = DeidFile | DeidSummary

_decoder = msgspec.json.Decoder(DeidRecord)


def decode_deid_record(line: bytes | str) -> DeidRecord:
    record: DeidRecord = _decoder.decode(line)
    return record
