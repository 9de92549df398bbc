"""Write the JSON Schemas under ``schemas/`` from the typed models.

Schemas are generated, never edited: the tests run this with ``--check`` (or compare
:func:`render`) and fail when a committed file differs, so a model change without a new schema
cannot go unnoticed.

- ``schemas/finding.schema.json`` — one JSON line of ``pacsaudit scan`` (``pacsaudit.model``)
- ``schemas/summary.schema.json`` — ``summary.json`` of ``pacsaudit report``
  (``pacsaudit.report.summary``)

Usage::

    python tools/gen_schema.py            # rewrite every schema
    python tools/gen_schema.py --check    # exit 1 if a committed schema is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pacsaudit.model import finding_schema
from pacsaudit.report.summary import summary_schema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_PATH = SCHEMA_DIR / "finding.schema.json"
SCHEMAS: dict[str, Callable[[], dict[str, object]]] = {
    "finding.schema.json": finding_schema,
    "summary.schema.json": summary_schema,
}


def _render(schema: dict[str, object]) -> str:
    """As committed: sorted keys, two-space indent, one trailing newline.

    The schema functions already pass every docstring through ``inspect.cleandoc``
    (:func:`pacsaudit.model.json_schema`), so the text does not depend on the msgspec release.
    """
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render(name: str = "finding.schema.json") -> str:
    return _render(SCHEMAS[name]())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    parser.add_argument("--directory", type=Path, default=SCHEMA_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name in SCHEMAS:
        path = args.directory / name
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text("utf-8") != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    for path in stale:
        print(f"{path} is stale: run python tools/gen_schema.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
