"""Summary-table rows for FTP, SMB and rsync findings, and one row per sign of compromise (its
own ``compromise`` finding), so that a miner or a ransom note stands out.

The columns are the DICOM table's, read for a file share: who answered (``toolkit``), which
anonymous identity got in (``accepts``), the shares or modules and whether guests may write
(``services``), files and DICOM files counted (``exposed``, ``≥`` for a lower bound), PHI
attributes seen in sampled headers, and what can be fetched (``retrieval``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pacsaudit.model import CompromiseResult, FileShareResult, Finding, Severity, ShareAccess

_ACCESS_MARK = {
    ShareAccess.LISTED: "",
    ShareAccess.DENIED: " (denied)",
    ShareAccess.SKIPPED: " (skipped)",
    ShareAccess.ERROR: " (error)",
}
_MAX_SHARES_SHOWN = 6


def _shares(r: FileShareResult) -> str:
    shown = []
    for s in r.shares[:_MAX_SHARES_SHOWN]:
        mark = _ACCESS_MARK[s.access] + (" [red]writable[/]" if s.writable else "")
        shown.append(f"{s.name}{mark}")
    more = len(r.shares) - _MAX_SHARES_SHOWN
    if more > 0:
        shown.append(f"+{more}")
    return ", ".join(shown) or "-"


def _exposed(r: FileShareResult) -> str:
    if not r.anonymous:
        return "-"
    files = f"≥{r.files:,}" if r.lower_bound else f"{r.files:,}"
    dicom = f"≥{r.dicom_files:,}" if r.dicom_lower_bound else f"{r.dicom_files:,}"
    how = "" if r.dicom_detection == "magic" else " by name"
    return f"{files} files / {dicom} DICOM{how}"


def _notes(r: FileShareResult) -> str:
    notes: list[str] = []
    if r.dicomdir is not None:
        d = r.dicomdir
        lower = "≥" if d.lower_bound else ""
        notes.append(f"DICOMDIR {lower}{d.patients} pt/{lower}{d.studies} st/{lower}{d.images} im")
    if r.samples_in_named_paths:
        notes.append(
            f"[red]{r.samples_in_named_paths} of {r.headers_sampled} sampled files in folders "
            "named after their patient[/]"
        )
    if r.world_writable_dirs:
        notes.append(f"{r.world_writable_dirs} world-writable folders")
    if r.writable_dirs:
        notes.append(f"[red]{r.writable_dirs} folders writable by us[/]")
    if r.bounds_hit:
        notes.append("bounds: " + ", ".join(r.bounds_hit))
    if r.error is not None:
        notes.append(str(r.error.kind))
    return "; ".join(notes)


def fileshare_rows(
    f: Finding, r: FileShareResult, target: str, style: Mapping[Severity, str]
) -> Iterator[tuple[str, ...]]:
    """Rows of the summary table (11 columns) for one file-share finding."""
    severity = r.severity
    sev = f"[{style[severity]}]{severity}[/]" if severity else "-"
    phi = [k for k, n in r.phi_attributes.items() if n > 0]
    yield (
        target,
        str(f.status),
        r.server or "-",
        r.login or "[green]refused[/]",
        _shares(r),
        _exposed(r),
        str(len(phi)) if r.headers_sampled else "-",
        "files readable" if r.anonymous and r.files_read else ("listing" if r.anonymous else "-"),
        "-",
        sev,
        _notes(r),
    )


def compromise_rows(
    f: Finding, r: CompromiseResult, target: str, style: Mapping[Severity, str]
) -> Iterator[tuple[str, ...]]:
    """One row per sign of compromise (the dispatcher's own ``compromise`` findings)."""
    severity = r.severity
    sev = f"[{style[severity]}]{severity}[/]" if severity else "-"
    for hit in r.indicators:
        where = f"{r.share_protocol} share {hit.share}, " if hit.share else f"{r.share_protocol}, "
        count = f" ×{hit.count}" if hit.count > 1 else ""
        yield (
            target,
            "[bold red]compromise[/]",
            "-",
            "-",
            f"[bold red]{hit.category}[/]",
            "-",
            "-",
            "-",
            "-",
            sev,
            f"{hit.description}{count} ({where}depth {hit.depth}; sources in the JSON)",
        )
