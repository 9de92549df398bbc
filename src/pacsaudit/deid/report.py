"""The terminal summary of ``deid``, from its records only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pacsaudit.deid.records import DeidFile, DeidSummary
from pacsaudit.peertext import visible

if TYPE_CHECKING:
    from rich.console import Console


def print_deid(summary: DeidSummary, files: list[DeidFile], console: Console) -> None:
    from rich.table import Table  # here: a quiet run prints nothing

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
        # a file name is data: it may hold markup or escape sequences (whoever wrote the share)
        line = visible(f"  skipped {f.path}: {f.error} ({f.message})")
        console.print(line, highlight=False, markup=False)
    console.print(
        f"{summary.files_seen} files in {summary.elapsed_s:.2f} s "
        f"({summary.files_per_s:,.0f} files/s, "
        f"{summary.bytes_written / max(summary.elapsed_s, 1e-9) / 1e6:,.1f} MB/s written)"
    )
