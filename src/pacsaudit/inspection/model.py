"""Result records of ``inspect``, and the reader of both commands' JSON Lines.

``deid`` owns its records (:mod:`pacsaudit.deid.records`); they are part of :data:`Record`
here so that one reader decodes any line either command wrote.

Like the scanner's findings these are :class:`msgspec.Struct` types tagged by a ``record``
field, so one reader can tell them apart. They hold counts, attribute keywords, file paths
relative to the roots given, and keyed hashes at most; never a value read from a file.
Paths are the user's own folder layout: if folders are named after patients, those names are
in the reports, as they are in the folders.
"""

from __future__ import annotations

import msgspec

from pacsaudit.deid.records import DeidFile, DeidSummary
from pacsaudit.files.read import FileError
from pacsaudit.files.records import SCHEMA_VERSION, utc_timestamp

__all__ = [
    "SCHEMA_VERSION",
    "AttributeCount",
    "BurnedInCounts",
    "DeidFile",
    "DeidSummary",
    "FileProblem",
    "InspectSummary",
    "Record",
    "decode_record",
    "encode_record",
    "utc_timestamp",
]


class FileProblem(msgspec.Struct, frozen=True, tag="file-problem", tag_field="record"):
    """A file that was skipped, and why; the run went on."""

    path: str
    error: FileError
    message: str
    timestamp: str = msgspec.field(default_factory=utc_timestamp)


class AttributeCount(msgspec.Struct, frozen=True, omit_defaults=True):
    """One Annex E attribute across the files inspected."""

    keyword: str
    tag: str
    name: str
    action: str
    """The Basic Profile action, as published."""
    files: int
    """Files where it holds a non-empty value (at any depth)."""
    identifying: int
    """Of those, files where the value still identifies: every file not marked de-identified;
    in de-identified files, values the profile (with the options the file declares) removes."""


class BurnedInCounts(msgspec.Struct, frozen=True):
    declared: int = 0
    likely: int = 0
    declared_none: int = 0
    unlikely: int = 0


class InspectSummary(msgspec.Struct, frozen=True, tag="inspect-summary", tag_field="record"):
    """What ``pacsaudit inspect`` found under its roots: counts only."""

    roots: list[str]
    table: str
    files_seen: int
    dicom_files: int
    headerless_files: int
    deidentified_files: int
    bytes_read: int
    problems: dict[str, int]
    files_with_identifying: int
    """DICOM files with at least one identifying Annex E value left."""
    identifying_attributes: int
    """Distinct Annex E attributes with an identifying value in at least one file."""
    private_files: int
    private_elements: int
    burned_in: BurnedInCounts
    modalities: dict[str, int]
    patients: int
    """Distinct patients (by keyed hash of Patient ID and issuer, or name when there is no ID)."""
    studies: int
    series: int
    attributes: list[AttributeCount]
    elapsed_s: float
    files_per_s: float
    files_in_named_paths: int = 0
    """DICOM files under a folder or file name that is their own patient's name or ID: anyone
    who can list the share reads those names (``deid --pseudonymise-paths`` avoids copying them)."""
    executable_dicom_files: int = 0
    """DICOM files whose preamble is a Windows PE or ELF program header: PE/DICOM polyglots,
    malware that is also a valid image (CVE-2019-11687; :mod:`pacsaudit.measure.polyglot`).
    Counted apart from every other figure: such a file means the archive is compromised."""
    executable_dicom_source: str | None = None
    """Where the check comes from, set when ``executable_dicom_files`` is not zero."""
    timestamp: str = msgspec.field(default_factory=utc_timestamp)
    schema_version: int = SCHEMA_VERSION


Record = FileProblem | InspectSummary | DeidFile | DeidSummary

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Record)


def encode_record(record: Record) -> bytes:
    """One JSON line, newline included."""
    return _encoder.encode(record) + b"\n"


def decode_record(line: bytes | str) -> Record:
    record: Record = _decoder.decode(line)
    return record
