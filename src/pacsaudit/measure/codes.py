"""Coded concepts (PS3.16) as data: the meaning a coding scheme gives each code value.

De-identification needs two things from the code dictionary: the CID 7050 codes that say which
profile and options were applied, and, for every Code Meaning (0008,0104) it meets, the meaning
the scheme itself defines, which replaces the free text a file carries there. pydicom holds the
dictionary, but importing it takes most of a second per process; ``data/code_meanings.json`` is
generated from it by ``tools/code_meanings.py`` (which records the pydicom version) and loads in
a few milliseconds.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import NamedTuple

import msgspec

CODES_FILE = "code_meanings.json"
DCM = "DCM"


class Code(NamedTuple):
    """A coded concept: value, scheme, meaning (PS3.3 8.1)."""

    value: str
    scheme: str
    meaning: str


class _Document(msgspec.Struct, frozen=True):
    provenance: dict[str, str]
    schemes: dict[str, dict[str, str]]


@functools.cache
def _document() -> _Document:
    data = resources.files("pacsaudit.data").joinpath(CODES_FILE).read_bytes()
    return msgspec.json.decode(data, type=_Document)


def meaning(scheme: str, value: str) -> str | None:
    """The scheme's own meaning of ``value``; None for a code this dictionary does not know."""
    return _document().schemes.get(scheme, {}).get(value)


@functools.cache
def _dcm_by_meaning() -> dict[str, str]:
    return {m: v for v, m in _document().schemes.get(DCM, {}).items()}


def dcm_code(code_meaning: str) -> Code:
    """The DCM code whose meaning is ``code_meaning`` (e.g. "Clean Descriptors Option");
    a KeyError names a meaning the dictionary lacks, which is a bug, never bad input."""
    return Code(_dcm_by_meaning()[code_meaning], DCM, code_meaning)


def provenance() -> dict[str, str]:
    """Which pydicom made the dictionary."""
    return dict(_document().provenance)
