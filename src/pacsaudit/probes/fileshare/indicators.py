"""Signs of compromise on a share: the shipped list (``data/indicators.json``) as data.

Names are matched case-insensitively against shell patterns. An indicator with ``content``
strings matches only when the name matches *and* one of the strings occurs in the file's first
bytes (a bounded prefix read): ``config.json`` alone is far too common to mean a miner.

One sign is not in the list because no name betrays it: a DICOM file whose preamble is a
program (:data:`EXECUTABLE_DICOM`, CVE-2019-11687), checked on the bytes every read fetches.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from pacsaudit.measure import polyglot

CONTENT_PREFIX = 4096
"""Bytes read from a file whose indicator needs its content."""


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    category: str
    description: str
    source: str
    names: tuple[str, ...]
    content: tuple[bytes, ...] = ()
    pattern: re.Pattern[str] | None = None

    def matches_name(self, name: str) -> bool:
        return self.pattern is not None and self.pattern.match(name) is not None

    def matches_content(self, prefix: bytes) -> bool:
        lowered = prefix.lower()
        return any(c.lower() in lowered for c in self.content)


EXECUTABLE_DICOM = Indicator(
    id=polyglot.EXECUTABLE_DICOM,
    category=polyglot.EXECUTABLE_DICOM,
    description=polyglot.DESCRIPTION,
    source=polyglot.SOURCE,
    names=(),
)
"""Recorded by the walk from a DICOM file's preamble, whatever the file is called."""


@dataclass(frozen=True, slots=True)
class IndicatorList:
    indicators: tuple[Indicator, ...]

    def by_name(self, name: str) -> list[Indicator]:
        return [i for i in self.indicators if i.matches_name(name)]


def parse_indicators(raw: dict[str, object]) -> IndicatorList:
    entries = raw.get("indicators")
    if not isinstance(entries, list):
        raise ValueError("indicator list: 'indicators' must be a list")
    out: list[Indicator] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("indicator list: each entry must be an object")
        names = tuple(str(n) for n in entry.get("names", []))
        if not names:
            raise ValueError(f"indicator {entry.get('id')!r} has no names")
        joined = "|".join(f"(?:{fnmatch.translate(n)})" for n in names)
        out.append(
            Indicator(
                id=str(entry["id"]),
                category=str(entry["category"]),
                description=str(entry["description"]),
                source=str(entry["source"]),
                names=names,
                content=tuple(str(c).encode() for c in entry.get("content", [])),
                pattern=re.compile(joined, re.IGNORECASE),
            )
        )
    return IndicatorList(tuple(out))


@lru_cache(maxsize=1)
def shipped_indicators() -> IndicatorList:
    text = resources.files("pacsaudit.data").joinpath("indicators.json").read_text("utf-8")
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("indicators.json must hold an object")
    return parse_indicators(raw)
