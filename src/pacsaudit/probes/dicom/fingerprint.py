"""Name the DICOM toolkit behind an A-ASSOCIATE-AC from its implementation identifiers.

The table is data (``pacsaudit/data/implementations.json``, each entry with its source), so
that it grows without code changes. Longest UID root wins: roots nest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class _Entry:
    toolkit: str
    uid_root: str
    version_pattern: re.Pattern[str] | None
    version_format: str


@dataclass(frozen=True, slots=True)
class Identification:
    toolkit: str | None
    version: str | None


@cache
def _entries() -> tuple[_Entry, ...]:
    raw = json.loads(
        resources.files("pacsaudit.data").joinpath("implementations.json").read_text("utf-8")
    )
    entries = [
        _Entry(
            toolkit=e["toolkit"],
            uid_root=e["uid_root"],
            version_pattern=re.compile(e["version_pattern"]) if e.get("version_pattern") else None,
            version_format=e.get("version_format", "{0}"),
        )
        for e in raw["entries"]
    ]
    return tuple(sorted(entries, key=lambda e: len(e.uid_root), reverse=True))


def identify(class_uid: str | None, version_name: str | None) -> Identification:
    toolkit_entry: _Entry | None = None
    if class_uid:
        for entry in _entries():
            if class_uid == entry.uid_root or class_uid.startswith(entry.uid_root + "."):
                toolkit_entry = entry
                break
    candidates = [toolkit_entry] if toolkit_entry else list(_entries())
    version: str | None = None
    for entry in candidates:
        if version_name and entry.version_pattern:
            m = entry.version_pattern.match(version_name)
            if m:
                version = entry.version_format.format(*m.groups())
                toolkit_entry = toolkit_entry or entry
                break
    return Identification(toolkit_entry.toolkit if toolkit_entry else None, version)
