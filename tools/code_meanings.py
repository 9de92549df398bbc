"""Write the code dictionary that ``pacsaudit deid`` uses for Code Meaning (0008,0104).

A Code Meaning is free text (LO) beside a coded concept: real files put patients' names there
("Head of Doe John"). De-identification therefore replaces it by the meaning the coding scheme
itself gives for the Code Value, and needs that dictionary. pydicom has it
(``pydicom.sr._concepts_dict``) but importing it costs most of a second in every process,
more than the whole start-up budget; this script turns it into a compact JSON file once, with
the pydicom version that made it. The runtime only reads the committed file.

Usage::

    python tools/code_meanings.py write     # regenerate from the installed pydicom
    python tools/code_meanings.py check     # exit 1 if the committed file differs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pydicom
from pydicom.sr._concepts_dict import concepts

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "src" / "pacsaudit" / "data" / "code_meanings.json"


def build() -> str:
    """``{"provenance": ..., "schemes": {scheme: {code value: meaning}}}`` as stable JSON."""
    schemes: dict[str, dict[str, str]] = {}
    for scheme, by_keyword in sorted(concepts.items()):
        meanings = schemes.setdefault(scheme, {})
        for by_value in by_keyword.values():
            for value, (meaning, _cids) in by_value.items():
                meanings.setdefault(value, meaning)
    document = {
        "provenance": {
            "source": "pydicom.sr._concepts_dict (DICOM PS3.16 codes as pydicom ships them)",
            "pydicom": pydicom.__version__,
            "generator": "tools/code_meanings.py",
        },
        "schemes": {s: dict(sorted(m.items())) for s, m in schemes.items()},
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("write", "check"))
    args = parser.parse_args(argv)
    text = build()
    if args.command == "write":
        DEST.write_text(text, encoding="utf-8")
        return 0
    if not DEST.exists() or DEST.read_text(encoding="utf-8") != text:
        print(f"{DEST} is stale: run python tools/code_meanings.py write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
