"""What ``pacsaudit inspect`` does once the CLI has parsed its options."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from rich.console import Console

from pacsaudit.inspection.inspect import InspectResult, inspect_paths
from pacsaudit.inspection.model import Record
from pacsaudit.inspection.report import print_inspect, progress_bar, write_jsonl


def run_inspect(
    paths: Sequence[Path], *, output: Path | None, jobs: int, console: Console | None
) -> InspectResult:
    """Inspect, then write the JSON Lines (problems, then the summary) and the rich summary."""
    with progress_bar(console, "inspect") as (on_total, on_file):
        result = inspect_paths(
            paths,
            jobs=jobs,
            on_total=cast(Callable[[int], None] | None, on_total),
            on_file=cast(Callable[[int], None] | None, on_file),
        )
    records: list[Record] = [*result.problems, result.summary]
    write_jsonl(output, records)
    if console is not None:
        print_inspect(result.summary, result.problems, console)
    return result
