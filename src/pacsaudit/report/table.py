"""The end-of-scan summary table: what a human reads first, built from findings only."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from pacsaudit.model import (
    AePolicy,
    CompromiseResult,
    DicomResult,
    FileShareResult,
    Finding,
    HttpResult,
    Severity,
    Status,
)
from pacsaudit.report.fileshare import compromise_rows, fileshare_rows
from pacsaudit.report.http_row import http_cells, http_notes

_CONTEXT_SHORT = {
    "Verification": "ECHO",
    "PatientRootQueryRetrieveInformationModelFind": "FIND",
    "StudyRootQueryRetrieveInformationModelFind": "FIND",
    "PatientRootQueryRetrieveInformationModelMove": "MOVE",
    "StudyRootQueryRetrieveInformationModelMove": "MOVE",
    "PatientRootQueryRetrieveInformationModelGet": "GET",
    "StudyRootQueryRetrieveInformationModelGet": "GET",
}

_POLICY_WORDS = {
    AePolicy.ANY_CALLED_AE: "[bold red]any AE title[/]",
    AePolicy.CALLED_AE_KNOWN_DEFAULT: "[red]default ANY-SCP[/]",
    AePolicy.CALLED_AE_ENFORCED: "[green]called AE checked[/]",
    AePolicy.CALLING_AE_ENFORCED: "[green]calling AE checked[/]",
    AePolicy.REJECTS_ALL: "[yellow]rejects all[/]",
    AePolicy.UNKNOWN: "unknown",
}


def _toolkit(r: DicomResult) -> str:
    if r.toolkit:
        toolkit = f"{r.toolkit} {r.toolkit_version or ''}".strip()
        if r.product and r.product != r.toolkit:
            toolkit = f"{r.product} ({toolkit})"
        if r.cves:
            toolkit += f" [{len(r.cves)} CVE]"
        return toolkit
    return r.implementation_version_name or r.implementation_class_uid or "-"


def _notes(f: Finding) -> str:
    r = f.result
    if f.status is Status.OPEN_NOT_DICOM and isinstance(r, DicomResult):
        first_line = (r.banner or "").split("\\r\\n", 1)[0].split("\\n", 1)[0]
        return f"says {first_line[:40]}"
    if f.error is not None:
        return str(f.error.kind)
    if isinstance(r, DicomResult) and r.flags:
        return "; ".join(f"{flag.kind}: {flag.evidence}" for flag in r.flags)
    if isinstance(r, DicomResult):
        rejects = [a.reject.reason for a in r.attempts if a.reject is not None]
        if rejects and not r.accepted_contexts:
            return "rejected: " + ", ".join(dict.fromkeys(rejects))
    return ""


def _order(f: Finding) -> tuple[int, int, str, int]:
    ip = ipaddress.ip_address(f.ip)
    return (ip.version, int(ip), f.host or "", f.port)


_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "green",
    Severity.INFO: "dim",
}


def _count(n: int | None, lower: bool) -> str:
    if n is None:
        return "?"
    return f"≥{n:,}" if lower else f"{n:,}"


def _exposed(r: DicomResult) -> str:
    e = r.exposure
    if e is None:
        return "-"
    return (
        f"{_count(e.patients, e.patients_lower_bound)} pt / "
        f"{_count(e.studies, e.studies_lower_bound)} st / "
        f"{_count(e.images, e.images_lower_bound)} im"
    )


def _phi(r: DicomResult) -> str:
    if r.exposure is None:
        return "-"
    readable = [k for k, n in r.exposure.phi_attributes.items() if n > 0]
    return str(len(readable))


def _retrieval(r: DicomResult) -> str:
    if r.retrieval is None:
        return "-"
    parts = []
    if r.retrieval.get_accepted:
        parts.append("GET")
    if r.retrieval.move_accepted:
        parts.append(f"MOVE:{r.retrieval.move_check}")
    return " ".join(parts) or "none"


def _tls(r: DicomResult) -> str:
    if r.tls is None:
        return "-"
    tls = r.tls.version or "yes"
    cert = r.tls.certificate
    if cert is not None and cert.self_signed:
        tls += " self-signed"
    return tls


_SERVICE_STATUSES = frozenset(
    {Status.DICOM, Status.HTTP, Status.FTP, Status.SMB, Status.RSYNC, Status.COMPROMISE}
)
_SNIFF_STATUSES = frozenset({Status.OPEN_NOT_DICOM, Status.ERROR})


_CAPPED_COLUMNS = (
    ("toolkit", 20),
    ("accepts", 13),
    ("services", 18),
    ("exposed", 15),
    ("PHI", 4),
    ("retrieval", 16),
    ("TLS", 12),
)


def identification_rows(findings: Iterable[Finding]) -> set[int]:
    """Indexes of the findings that only record how a port was identified: the DICOM probe's
    ``open-not-dicom`` or silent ``error`` on a port where another protocol's probe then found
    its service. They stay in the JSON (one record per protocol tried); the table folds them
    into the caption so that each service reads as one row."""
    served: dict[tuple[str, int], set[str]] = {}
    listed = list(findings)
    for f in listed:
        if f.status in _SERVICE_STATUSES:
            served.setdefault((f.ip, f.port), set()).add(f.protocol)
    return {
        i
        for i, f in enumerate(listed)
        if f.status in _SNIFF_STATUSES and served.get((f.ip, f.port), set()) - {f.protocol}
    }


def findings_table(findings: Iterable[Finding], status_counts: Counter[str]) -> Table:
    table = Table(title="pacsaudit findings", show_lines=False, header_style="bold")
    table.add_column("target", no_wrap=True)
    table.add_column("status", no_wrap=True)
    # Capped, so that the notes (what a person reads first after the severity) get the rest
    # of the width rather than an equal share.
    for col, cap in _CAPPED_COLUMNS:
        table.add_column(col, overflow="fold", max_width=cap)
    table.add_column("severity", no_wrap=True)
    table.add_column("notes", overflow="fold")
    listed = list(findings)
    folded = identification_rows(listed)
    for f in sorted((f for i, f in enumerate(listed) if i not in folded), key=_order):
        r = f.result if isinstance(f.result, DicomResult) else None
        target = f"{f.host or f.ip}:{f.port}"
        if isinstance(f.result, FileShareResult):
            for row in fileshare_rows(f, f.result, target, _SEVERITY_STYLE):
                table.add_row(*row)
            continue
        if isinstance(f.result, CompromiseResult):
            for row in compromise_rows(f, f.result, target, _SEVERITY_STYLE):
                table.add_row(*row)
            continue
        if isinstance(f.result, HttpResult) and f.status is Status.HTTP:
            sev = f.result.severity
            styled = f"[{_SEVERITY_STYLE[sev]}]{sev}[/]" if sev else "-"
            table.add_row(
                target, str(f.status), *http_cells(f.result), styled, http_notes(f.result)
            )
            if f.result.listing is not None:  # an open listing or WebDAV: a share's row
                label = f"{target} {f.result.listing_format or 'listing'}"
                for row in fileshare_rows(f, f.result.listing, label, _SEVERITY_STYLE):
                    table.add_row(*row)
            continue
        if r is None or f.status is not Status.DICOM:
            table.add_row(target, str(f.status), *["-"] * 8, _notes(f))
            continue
        services = " ".join(dict.fromkeys(_CONTEXT_SHORT.get(c, c) for c in r.accepted_contexts))
        severity = r.severity
        table.add_row(
            target,
            str(f.status),
            _toolkit(r),
            _POLICY_WORDS.get(r.ae_policy, str(r.ae_policy)),
            services or "-",
            _exposed(r),
            _phi(r),
            _retrieval(r),
            _tls(r),
            f"[{_SEVERITY_STYLE[severity]}]{severity}[/]" if severity else "-",
            _notes(f),
        )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(status_counts.items()))
    caption = f"records by status: {counts}" if counts else "no targets"
    if folded:
        caption += (
            f" ({len(folded)} identification records not shown: the port then answered "
            "another protocol's probe)"
        )
    table.caption = caption
    return table


def print_summary(
    findings: list[Finding],
    status_counts: Counter[str],
    console: Console,
    elapsed: float,
    targets: int,
) -> None:
    """The table, then one line of totals: ``targets`` are ip/port pairs probed, ``records``
    the findings written (a port identified by its first bytes yields one per protocol tried,
    a share with signs of compromise one more)."""
    console.print(findings_table(findings, status_counts))
    records = sum(status_counts.values())
    rate = targets / elapsed if elapsed > 0 else 0.0
    console.print(f"{targets:,} targets, {records:,} records in {elapsed:.2f} s ({rate:,.0f}/s)")
