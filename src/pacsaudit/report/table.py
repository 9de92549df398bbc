"""The end-of-scan summary table: what a human reads first, built from findings only."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

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
from pacsaudit.report.cells import cell, count_text, exposure_text, tls_text
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
    "ModalityWorklistInformationModelFind": "MWL",
}

_POLICY_WORDS = {
    AePolicy.ANY_CALLED_AE: ("any AE title", "bold red"),
    AePolicy.CALLED_AE_KNOWN_DEFAULT: ("default ANY-SCP", "red"),
    AePolicy.CALLED_AE_REVEALED: ("AE title from web API", "red"),
    AePolicy.CALLED_AE_ENFORCED: ("called AE checked", "green"),
    AePolicy.CALLING_AE_ENFORCED: ("calling AE checked", "green"),
    AePolicy.REJECTS_ALL: ("rejects all", "yellow"),
    AePolicy.UNKNOWN: ("unknown", ""),
}


def _toolkit(r: DicomResult) -> str:
    named = _named(r)
    if r.device_class is not None and r.device_class != "unknown":
        return f"{named}, {r.device_class}" if named != "-" else str(r.device_class)
    return named


def _named(r: DicomResult) -> str:
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


def _policy(policy: AePolicy | None, tier: str | None = None) -> Text:
    word = _POLICY_WORDS.get(policy) if policy is not None else None
    suffix = f" ({tier})" if tier and tier != "unknown" else ""
    if word is None:
        return cell(f"{policy}{suffix}")
    return cell((word[0] + suffix, word[1]))


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


def severity_cell(severity: Severity | None) -> Text:
    """The severity word in its colour, or ``-``."""
    return cell((str(severity), _SEVERITY_STYLE[severity])) if severity else cell("-")


def _exposed(r: DicomResult) -> str:
    e, w = r.exposure, r.worklist
    parts = []
    if e is not None:
        parts.append(exposure_text(e))
    if w is not None:
        steps = count_text(w.scheduled_steps, w.scheduled_steps_lower_bound)
        patients = count_text(w.distinct_patients, w.scheduled_steps_lower_bound)
        parts.append(f"MWL {steps} steps, {patients} pt")
    return "; ".join(parts) or "-"


def _phi(r: DicomResult) -> str:
    if r.exposure is None and r.worklist is None:
        return "-"
    counts = [*(r.exposure.phi_attributes.items() if r.exposure else ())]
    counts += [*(r.worklist.phi_attributes.items() if r.worklist else ())]
    return str(len({k for k, n in counts if n > 0}))


def _retrieval(r: DicomResult) -> str:
    if r.retrieval is None:
        return "-"
    parts = []
    if r.retrieval.get_accepted:
        parts.append("GET")
    if r.retrieval.move_accepted:
        parts.append(f"MOVE:{r.retrieval.move_check}")
    return " ".join(parts) or "none"


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
        for row in _rows(f):
            table.add_row(*row)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(status_counts.items()))
    caption = f"records by status: {counts}" if counts else "no targets"
    if folded:
        caption += (
            f" ({len(folded)} identification records not shown: the port then answered "
            "another protocol's probe)"
        )
    table.caption = cell(caption)
    return table


def _rows(f: Finding) -> list[list[Text]]:
    """The table's rows for one finding (a share with signs of compromise has several)."""
    target = cell(f"{f.host or f.ip}:{f.port}")
    status = cell(str(f.status))
    if isinstance(f.result, FileShareResult):
        return list(fileshare_rows(f, f.result, target, severity_cell))
    if isinstance(f.result, CompromiseResult):
        return list(compromise_rows(f, f.result, target, severity_cell))
    if isinstance(f.result, HttpResult) and f.status is Status.HTTP:
        web = f.result
        rows = [[target, status, *http_cells(web), severity_cell(web.severity), http_notes(web)]]
        if web.listing is not None:  # an open listing or WebDAV: a share's row
            label = cell(f"{f.host or f.ip}:{f.port} {web.listing_format or 'listing'}")
            rows.extend(fileshare_rows(f, web.listing, label, severity_cell))
        return rows
    r = f.result if isinstance(f.result, DicomResult) else None
    if r is None or f.status is not Status.DICOM:
        return [[target, status, *[cell("-")] * 8, cell(_notes(f))]]
    services = " ".join(dict.fromkeys(_CONTEXT_SHORT.get(c, c) for c in r.accepted_contexts))
    if r.storage is not None and r.storage.accepted:
        services += f" STORE:{len(r.storage.accepted)}"
    return [
        [
            target,
            status,
            cell(_toolkit(r)),
            _policy(r.ae_policy, r.access_tier),
            cell(services or "-"),
            cell(_exposed(r)),
            cell(_phi(r)),
            cell(_retrieval(r)),
            cell(tls_text(r.tls)),
            severity_cell(r.severity),
            cell(_notes(f)),
        ]
    ]


def print_summary(
    findings: list[Finding],
    status_counts: Counter[str],
    console: Console,
    elapsed: float,
    targets: int,
) -> None:
    """The table, then one line of totals: ``targets`` are ip/port pairs probed, ``records``
    the findings written (a port identified by its first bytes yields one per protocol tried,
    a share with signs of compromise one more).

    Drawing the table can never end the scan: whatever goes wrong in it becomes one line, and
    the totals, the ``--fail-on`` verdict and the exit code that follow are still given — a CI
    pipeline relying on exit 3 must not be blinded by one odd host in the range."""
    try:
        console.print(findings_table(findings, status_counts))
    except Exception as exc:  # any failure to render; the findings themselves are written
        console.print(
            f"the findings table could not be drawn ({type(exc).__name__}); "
            "the findings are complete in the output",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    records = sum(status_counts.values())
    rate = targets / elapsed if elapsed > 0 else 0.0
    console.print(f"{targets:,} targets, {records:,} records in {elapsed:.2f} s ({rate:,.0f}/s)")
