"""What ``pacsaudit deid`` does once the CLI has parsed its options."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

from rich.console import Console

from pacsaudit.deid.keys import load_or_create_key
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import REVIEW_FILE, DeidPlan, DeidResult, run_deid
from pacsaudit.errors import UsageError
from pacsaudit.inspection.model import Record
from pacsaudit.inspection.report import print_deid, progress_bar, write_jsonl
from pacsaudit.measure.annex_e import Option


def load_safe_private(path: Path | None) -> frozenset[tuple[str, int]]:
    """A JSON list of ``{"creator": "...", "element": "0x10"}``: the private attributes the
    Retain Safe Private option may keep (PS3.15 E.3.10), by creator and element byte."""
    if path is None:
        return frozenset()
    try:
        entries = json.loads(path.read_text())
        return frozenset(
            (str(e["creator"]).strip().lower(), int(str(e["element"]), 0) & 0xFF) for e in entries
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read the safe private list {path}: {exc}") from None


def run_deid_command(
    source: Path,
    output: Path,
    *,
    options: frozenset[Option],
    key_file: Path | None,
    safe_private: Path | None,
    jobs: int,
    records_output: Path | None,
    console: Console | None,
) -> DeidResult:
    key = load_or_create_key(key_file)
    plan = DeidPlan(
        source=source,
        output=output,
        options=DeidOptions(options=options, safe_private=load_safe_private(safe_private)),
        key=key,
        jobs=jobs,
    )
    with progress_bar(console, "deid") as (on_total, on_file):
        result = run_deid(
            plan,
            on_total=cast(Callable[[int], None] | None, on_total),
            on_file=cast(Callable[[int], None] | None, on_file),
        )
    if records_output is not None:
        records: list[Record] = [*result.files, result.summary]
        write_jsonl(records_output, records)
    if console is not None:
        print_deid(result.summary, result.files, console)
        if result.summary.review:
            console.print(
                f"[magenta]{result.summary.review} files may show text in their pixels[/]: "
                f"see {result.metadata_dir / REVIEW_FILE}"
            )
    return result
