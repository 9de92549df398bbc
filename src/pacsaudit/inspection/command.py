"""What ``pacsaudit inspect`` does once the CLI has parsed its options."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from rich.console import Console

from pacsaudit.files.output import RecordsOutput, progress_bar
from pacsaudit.inspection.inspect import InspectResult, inspect_paths
from pacsaudit.inspection.model import Record
from pacsaudit.inspection.report import print_inspect


def run_inspect(
    paths: Sequence[Path],
    *,
    output: Path | None,
    jobs: int,
    console: Console | None,
    overwrite: bool = False,
    warn: Callable[[str], None] | None = None,
) -> InspectResult:
    """Inspect, then show the summary and warnings, then write the JSON Lines (problems, then
    the summary).

    ``-o`` is checked first (an input, a folder or an existing report is refused before any
    file is read); the summary is shown before the records are written, so a write that fails
    (a full disk) still leaves the user with the counts, and a clear error.
    """
    target = RecordsOutput.check(output, protected=paths, overwrite=overwrite)
    with progress_bar(console, "inspect") as (on_total, on_file):
        result = inspect_paths(
            paths,
            jobs=jobs,
            on_total=cast(Callable[[int], None] | None, on_total),
            on_file=cast(Callable[[int], None] | None, on_file),
        )
    if console is not None:
        print_inspect(result.summary, result.problems, console)
    if warn is not None:
        for message in result.warnings:
            warn(message)
    records: list[Record] = [*result.problems, result.summary]
    target.write(records)
    return result
