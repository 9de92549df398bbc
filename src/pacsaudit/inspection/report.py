"""Reporters for ``inspect`` and ``deid``: JSON Lines and a rich summary, from records only.

As with the scanner's reporters, nothing here reads a file or a dataset: what cannot be in a
record cannot be printed. JSON Lines files are written whole under a temporary name and renamed
into place, so an interrupted run never leaves a torn report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pacsaudit.inspection.model import (
    DeidFile,
    DeidSummary,
    FileProblem,
    InspectSummary,
    Record,
    encode_record,
)

_ROWS_SHOWN = 25


def write_jsonl(path: Path | None, records: Iterable[Record]) -> None:
    """All records, one per line; to stdout when ``path`` is None."""
    data = b"".join(encode_record(r) for r in records)
    if path is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def progress_bar(console: Console | None, label: str) -> Iterator[tuple[object, object]]:
    """Callbacks (on_total, on_file) that drive a progress bar, or do nothing when quiet."""
    if console is None:
        yield (None, None)
        return
    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def on_total(n: int) -> None:
            progress.update(task, total=n)

        def on_file(_size: int) -> None:
            progress.advance(task)

        yield (on_total, on_file)


def inspect_table(summary: InspectSummary) -> Table:
    table = Table(title="pacsaudit inspect: Annex E attributes present", header_style="bold")
    for col in ("attribute", "tag", "basic action", "files", "identifying"):
        table.add_column(col, justify="right" if col in ("files", "identifying") else "left")
    for attr in summary.attributes[:_ROWS_SHOWN]:
        style = "red" if attr.identifying else None
        table.add_row(
            attr.keyword, attr.tag, attr.action, str(attr.files), str(attr.identifying), style=style
        )
    hidden = len(summary.attributes) - _ROWS_SHOWN
    if hidden > 0:
        table.caption = f"{hidden} more attributes in the JSON Lines output"
    return table


def print_inspect(summary: InspectSummary, problems: list[FileProblem], console: Console) -> None:
    console.print(inspect_table(summary))
    b = summary.burned_in
    verdict = (
        "[bold green]no identifying Annex E values left[/]"
        if summary.files_with_identifying == 0
        else f"[bold red]{summary.files_with_identifying} files carry identifying values[/] "
        f"({summary.identifying_attributes} attributes)"
    )
    console.print(
        f"{summary.dicom_files} DICOM files of {summary.files_seen} "
        f"({summary.headerless_files} headerless, {summary.deidentified_files} marked "
        f"de-identified); {summary.patients} patients, {summary.studies} studies, "
        f"{summary.series} series"
    )
    console.print(verdict)
    console.print(
        f"private tags in {summary.private_files} files ({summary.private_elements} elements); "
        f"burned-in text: {b.declared} declared, {b.likely} likely, {b.declared_none} declared "
        "absent"
    )
    if problems:
        kinds = ", ".join(f"{n} {k}" for k, n in summary.problems.items())
        console.print(f"[yellow]{len(problems)} files skipped[/]: {kinds}")
    console.print(
        f"{summary.files_seen} files in {summary.elapsed_s:.2f} s "
        f"({summary.files_per_s:,.0f} files/s, "
        f"{summary.bytes_read / max(summary.elapsed_s, 1e-9) / 1e6:,.1f} MB/s)"
    )


def print_deid(summary: DeidSummary, files: list[DeidFile], console: Console) -> None:
    table = Table(title="pacsaudit deid", header_style="bold", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files seen", str(summary.files_seen))
    table.add_row("written", str(summary.written))
    table.add_row("already done (resumed)", str(summary.already_done))
    for kind, n in summary.skipped.items():
        table.add_row(f"skipped: {kind}", str(n), style="yellow")
    table.add_row("to review (burned-in text)", str(summary.review), style="magenta")
    console.print(table)
    if summary.interrupted:
        console.print("[yellow]interrupted[/]: run the same command again to resume")
    for f in [f for f in files if f.error is not None][:10]:
        console.print(f"  skipped {f.path}: {f.error} ({f.message})", highlight=False)
    console.print(
        f"{summary.files_seen} files in {summary.elapsed_s:.2f} s "
        f"({summary.files_per_s:,.0f} files/s, "
        f"{summary.bytes_written / max(summary.elapsed_s, 1e-9) / 1e6:,.1f} MB/s written)"
    )
