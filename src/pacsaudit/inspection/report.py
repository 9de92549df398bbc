"""The terminal summary of ``inspect``, from records only.

As with the scanner's reporters, nothing here reads a file or a dataset: what cannot be in a
record cannot be printed. Writing the records and the progress bar are shared with ``deid``
(:mod:`pacsaudit.files.output`, re-exported here for the importers of this module).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pacsaudit.files.output import OutputMode, RecordsOutput, progress_bar, warn
from pacsaudit.inspection.model import FileProblem, InspectSummary

__all__ = ["OutputMode", "RecordsOutput", "inspect_table", "print_inspect", "progress_bar", "warn"]

_ROWS_SHOWN = 25


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
    if summary.files_in_named_paths:
        console.print(
            f"[bold red]{summary.files_in_named_paths} files sit under folder or file names "
            "that are their patient's name or ID[/]: listing the folders reveals them "
            "(deid --pseudonymise-paths does not copy them)"
        )
    if summary.executable_dicom_files:
        console.print(
            f"[bold red]{summary.executable_dicom_files} DICOM files carry a Windows PE or ELF "
            "program in their preamble[/] (a sign of compromise: "
            f"{summary.executable_dicom_source})"
        )
    if problems:
        kinds = ", ".join(f"{n} {k}" for k, n in summary.problems.items())
        console.print(f"[yellow]{len(problems)} paths skipped[/]: {kinds}")
    console.print(
        f"{summary.files_seen} files in {summary.elapsed_s:.2f} s "
        f"({summary.files_per_s:,.0f} files/s, "
        f"{summary.bytes_read / max(summary.elapsed_s, 1e-9) / 1e6:,.1f} MB/s)"
    )
