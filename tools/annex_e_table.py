"""Copy, check and refresh PS3.15 Table E.1-1 as pacsaudit package data.

The table is never typed by hand: it is the machine-readable export of the standard kept in the
steering repository's ``shared/data/dicom-standard/`` (see its README for the source and
edition). This script lives outside the package, like pydicom's dictionary generators, so the
runtime only ever reads the committed copy.

Usage::

    python tools/annex_e_table.py check [--source DIR]    # exit 1 if the copy is stale or bad
    python tools/annex_e_table.py refresh --source DIR    # validate a newer edition, copy it in

``check`` validates the committed copy against the loader's schema, against the SHA-256 in
``provenance.json``, and, when the source folder exists, against the source itself, listing
the attributes a newer edition adds, drops or changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from pacsaudit.measure.annex_e import (
    PROVENANCE_FILE,
    TABLE_FILE,
    TableRow,
    parse_rows,
)

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "src" / "pacsaudit" / "data" / "annex_e"
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "dicom-standard"
SOURCE_TABLE = "confidentiality_profile_attributes.json"
COPIED_ALONGSIDE = ("README.md", "LICENSE.txt")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path) -> dict[str, TableRow]:
    """Parse with the runtime's own schema so a new column or action fails here first."""
    rows = parse_rows(path.read_bytes())
    return {row.tag: row for row in rows}


def _diff(old: dict[str, TableRow], new: dict[str, TableRow]) -> list[str]:
    lines = [f"+ {tag} {new[tag].name}" for tag in sorted(new.keys() - old.keys())]
    lines += [f"- {tag} {old[tag].name}" for tag in sorted(old.keys() - new.keys())]
    for tag in sorted(old.keys() & new.keys()):
        if old[tag] != new[tag]:
            before = msgspec.structs.asdict(old[tag])
            after = msgspec.structs.asdict(new[tag])
            changed = {k: (before.get(k), after.get(k)) for k in after if before[k] != after[k]}
            lines.append(f"~ {tag} {new[tag].name}: {changed}")
    return lines


def check(source: Path) -> int:
    problems: list[str] = []
    table = DEST / TABLE_FILE
    provenance = json.loads((DEST / PROVENANCE_FILE).read_text())
    try:
        packaged = _rows(table)
    except (msgspec.ValidationError, ValueError) as exc:
        print(f"packaged table does not parse: {exc}")
        return 1
    if _sha256(table) != provenance["sha256"]:
        problems.append("packaged table does not match the SHA-256 in provenance.json")
    if len(packaged) != provenance["attributes"]:
        problems.append(f"{len(packaged)} attributes, provenance says {provenance['attributes']}")
    src = source / SOURCE_TABLE
    if src.is_file():
        if _sha256(src) != _sha256(table):
            changes = _diff(packaged, _rows(src))
            problems.append(f"source differs from the packaged copy ({len(changes)} attributes):")
            problems += [f"  {line}" for line in changes[:200]]
            problems.append(f"run: python tools/annex_e_table.py refresh --source {source}")
    else:
        print(f"note: no source at {src}; checked the packaged copy only")
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {len(packaged)} attributes, sha256 {provenance['sha256'][:16]}…")
    return 1 if problems else 0


def refresh(source: Path) -> int:
    src = source / SOURCE_TABLE
    rows = _rows(src)  # raises on a schema change: update TableRow and the deid rules first
    DEST.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, DEST / TABLE_FILE)
    for name in COPIED_ALONGSIDE:
        if (source / name).is_file():
            shutil.copyfile(source / name, DEST / f"source-{name}")
    provenance = {
        "table": "DICOM PS3.15 Annex E, Table E.1-1 (Application Level Confidentiality Profile)",
        "source": "see source-README.md (copied verbatim from the source folder)",
        "source_file": SOURCE_TABLE,
        "sha256": _sha256(src),
        "attributes": len(rows),
        "copied_by": "tools/annex_e_table.py refresh",
        "copied_at": datetime.now(UTC).date().isoformat(),
    }
    (DEST / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"copied {len(rows)} attributes from {src}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("check", "refresh"))
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args(argv)
    return check(args.source) if args.command == "check" else refresh(args.source)


if __name__ == "__main__":
    sys.exit(main())
