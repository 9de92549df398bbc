"""Write ``schemas/summary.schema.json`` from the summary model (``pacsaudit.report.summary``).

Generated, never edited: ``tests/report/test_report_summary.py`` runs this with ``--check`` and
fails when the committed schema differs from the classes, so the two cannot drift apart.

Usage::

    python tools/gen_summary_schema.py            # rewrite schemas/summary.schema.json
    python tools/gen_summary_schema.py --check    # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pacsaudit.report.summary import summary_schema

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "summary.schema.json"


def render() -> str:
    """The schema as committed: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(summary_schema(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    parser.add_argument("--output", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text("utf-8") if args.output.exists() else None
        if current != text:
            print(
                f"{args.output} is stale: run python tools/gen_summary_schema.py", file=sys.stderr
            )
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
