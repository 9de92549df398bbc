"""The AE titles ``--guess-ae`` tries, as data, and the file format that replaces them.

Guessing is opt-in and bounded: at most ``max_guesses`` associations per list and host, one at
a time, ``interval`` seconds apart, so a guarded server sees a handful of polite attempts, not a
brute-force run.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import msgspec

from pacsaudit.probes.dicom.pdu import encode_ae_title
from pacsaudit.usage import UsageError


class AeGuessOptions(msgspec.Struct, frozen=True):
    enabled: bool = False
    called: tuple[str, ...] = msgspec.field(default_factory=tuple)
    calling: tuple[str, ...] = msgspec.field(default_factory=tuple)
    max_guesses: int = 24
    interval: float = 0.2


def shipped_entries() -> dict[str, list[dict[str, str]]]:
    """The shipped lists as entries: each ``{"title", "source"}``, the source saying where
    the title is published (a toolkit's sample, a vendor's default)."""
    raw = json.loads(
        resources.files("pacsaudit.data").joinpath("ae_titles.json").read_text("utf-8")
    )
    return {"called": raw["called"], "calling": raw["calling"]}


def shipped_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    entries = shipped_entries()
    return (
        tuple(e["title"] for e in entries["called"]),
        tuple(e["title"] for e in entries["calling"]),
    )


def read_ae_list(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """One title per line; ``calling:`` on its own line starts the calling list."""
    called: list[str] = []
    calling: list[str] = []
    current = called
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read AE list {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"AE list {path} is not plain ASCII text (byte {exc.start}): AE titles are ASCII"
        ) from None
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if text.lower() == "calling:":
            current = calling
            continue
        try:
            encode_ae_title(text)
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: {exc}") from None
        current.append(text)
    if not called and not calling:
        raise UsageError(f"{path}: no AE titles")
    return tuple(called), tuple(calling)
