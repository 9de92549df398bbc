"""``findings.csv``: one row per service for people who work in spreadsheets.

Cells that a spreadsheet would run as a formula (starting ``=``, ``+``, ``-``, ``@``) are
prefixed with an apostrophe: product names, banners and the AE titles a web API lists come from
peers (``-`` is a valid first character of an AE title), and a report must not become a way to
run a formula on the analyst's machine.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from pacsaudit.report.remedy import advice_for
from pacsaudit.report.service import Count, Service, ip_order

COLUMNS = (
    "ip",
    "host",
    "port",
    "protocol",
    "status",
    "country",
    "severity",
    "exposure_class",
    "ae_policy",
    "accepted_ae_title",
    "called_ae_source",
    "listed_ae_titles",
    "device_class",
    "access_tier",
    "product",
    "version",
    "cves",
    "tls",
    "tls_self_signed",
    "patients",
    "patients_lower_bound",
    "studies",
    "studies_lower_bound",
    "images",
    "images_lower_bound",
    "bytes",
    "phi_attributes",
    "get_accepted",
    "move_check",
    "storage_classes",
    "workflow_services",
    "worklist_steps",
    "worklist_steps_lower_bound",
    "worklist_patients",
    "all_patients",
    "all_patients_lower_bound",
    "flags",
    "indicators",
    "fixes",
    "error",
    "source",
)


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _n(count: Count) -> tuple[str, str]:
    return ("" if count.value is None else str(count.value), "yes" if count.lower_bound else "")


def row(s: Service) -> list[str]:
    p, pl = _n(s.patients)
    st, sl = _n(s.studies)
    im, il = _n(s.images)
    wl, wll = _n(s.worklist_steps)
    wp, _ = _n(s.worklist_patients)
    ap, apl = _n(s.all_patients)
    values: list[object] = [
        s.ip,
        s.host,
        s.port,
        s.protocol,
        s.status,
        s.country,
        s.severity,
        s.exposure_class,
        s.ae_policy,
        s.accepted_ae,
        s.called_ae_source,
        s.listed_ae_label,
        s.device_class,
        s.access_tier,
        s.product,
        s.version,
        " ".join(s.cves),
        (s.tls.version or "yes") if s.tls else "no",
        ("yes" if s.tls.self_signed else "no") if s.tls else "",
        p,
        pl,
        st,
        sl,
        im,
        il,
        "" if s.bytes.value is None else s.bytes.value,
        "; ".join(f"{k}={n}" for k, n in sorted(s.phi_exposed.items())),
        "yes" if s.get_accepted else "",
        s.move_check,
        len(s.storage_classes) or "",
        " ".join(s.workflow_services),
        wl,
        wll,
        wp,
        ap,
        apl,
        " ".join(s.flags),
        " ".join(s.indicators),
        " ".join(a.id for a, _ in advice_for(s)),
        s.error_kind,
        s.source,
    ]
    return [_safe(v) for v in values]


def write_csv(path: Path, services: Iterable[Service]) -> int:
    """Every record except closed and filtered ports, most severe first; returns the rows."""
    chosen = [s for s in services if s.status not in ("closed", "filtered")]
    chosen.sort(key=lambda s: (-s.severity_rank, *ip_order(s.ip), s.port, s.protocol))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(row(s) for s in chosen)
    return len(chosen)
