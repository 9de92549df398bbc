"""Summary-table rows for FTP, SMB and rsync findings, and one row per sign of compromise (its
own ``compromise`` finding), so that a miner or a ransom note stands out.

The columns are the DICOM table's, read for a file share: who answered (``toolkit``), which
anonymous identity got in (``accepts``), the shares or modules and whether guests may write
(``services``), files and DICOM files counted (``exposed``, ``≥`` for a lower bound), PHI
attributes seen in sampled headers, and what can be fetched (``retrieval``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from rich.text import Text

from pacsaudit.model import CompromiseResult, FileShareResult, Finding, Severity, ShareAccess
from pacsaudit.report.cells import Part, cell, joined

SeverityCell = Callable[[Severity | None], Text]

_ACCESS_MARK = {
    ShareAccess.LISTED: "",
    ShareAccess.DENIED: " (denied)",
    ShareAccess.SKIPPED: " (skipped)",
    ShareAccess.ERROR: " (error)",
}
_MAX_SHARES_SHOWN = 6


def _shares(r: FileShareResult) -> Text:
    shown = []
    for s in r.shares[:_MAX_SHARES_SHOWN]:
        writable: Part = (" writable", "red") if s.writable else ""
        shown.append(cell(s.name, _ACCESS_MARK[s.access], writable))
    more = len(r.shares) - _MAX_SHARES_SHOWN
    if more > 0:
        shown.append(cell(f"+{more}"))
    return joined(", ", shown) if shown else cell("-")


def _exposed(r: FileShareResult) -> str:
    if not r.anonymous:
        return "-"
    files = f"≥{r.files:,}" if r.lower_bound else f"{r.files:,}"
    dicom = f"≥{r.dicom_files:,}" if r.dicom_lower_bound else f"{r.dicom_files:,}"
    how = "" if r.dicom_detection == "magic" else " by name"
    return f"{files} files / {dicom} DICOM{how}"


def _notes(r: FileShareResult) -> Text:
    notes: list[Text] = []
    if r.dicomdir is not None:
        d = r.dicomdir
        lower = "≥" if d.lower_bound else ""
        notes.append(
            cell(f"DICOMDIR {lower}{d.patients} pt/{lower}{d.studies} st/{lower}{d.images} im")
        )
    if r.samples_in_named_paths:
        said = (
            f"{r.samples_in_named_paths} of {r.headers_sampled} sampled files in folders "
            "named after their patient"
        )
        notes.append(cell((said, "red")))
    if r.world_writable_dirs:
        notes.append(cell(f"{r.world_writable_dirs} world-writable folders"))
    if r.writable_dirs:
        notes.append(cell((f"{r.writable_dirs} folders writable by us", "red")))
    if r.bounds_hit:
        notes.append(cell("bounds: " + ", ".join(r.bounds_hit)))
    if r.error is not None:
        notes.append(cell(str(r.error.kind)))
    return joined("; ", notes)


def fileshare_rows(
    f: Finding, r: FileShareResult, target: Text, severity_cell: SeverityCell
) -> Iterator[list[Text]]:
    """Rows of the summary table (11 columns) for one file-share finding."""
    phi = [k for k, n in r.phi_attributes.items() if n > 0]
    retrieval = "files readable" if r.anonymous and r.files_read else "listing"
    yield [
        target,
        cell(str(f.status)),
        cell(r.server or "-"),
        cell(r.login) if r.login else cell(("refused", "green")),
        _shares(r),
        cell(_exposed(r)),
        cell(str(len(phi)) if r.headers_sampled else "-"),
        cell(retrieval if r.anonymous else "-"),
        cell("-"),
        severity_cell(r.severity),
        _notes(r),
    ]


def compromise_rows(
    f: Finding, r: CompromiseResult, target: Text, severity_cell: SeverityCell
) -> Iterator[list[Text]]:
    """One row per sign of compromise (the dispatcher's own ``compromise`` findings)."""
    del f  # the row says "compromise" whatever the envelope's status
    for hit in r.indicators:
        where = f"{r.share_protocol} share {hit.share}, " if hit.share else f"{r.share_protocol}, "
        count = f" ×{hit.count}" if hit.count > 1 else ""
        dash = cell("-")
        yield [
            target,
            cell(("compromise", "bold red")),
            dash,
            dash,
            cell((hit.category, "bold red")),
            dash,
            dash,
            dash,
            dash,
            severity_cell(r.severity),
            cell(f"{hit.description}{count} ({where}depth {hit.depth}; sources in the JSON)"),
        ]
