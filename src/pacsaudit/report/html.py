"""``report.html`` and ``diff.html``: one self-contained file each, readable offline.

Everything the page needs is inline — styles, the SVG charts, a few lines of script to sort and
filter the table — and a Content-Security-Policy forbids every fetch, so opening the report on
a workstation makes no network request (the browser test checks it). Templates are Jinja2 with
autoescaping: product names, CVE ids and the like come from peers and are escaped on output.

A public report is drawn from the anonymised summary only: no findings table, no addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import jinja2
from markupsafe import Markup

from pacsaudit import __version__
from pacsaudit.model import Severity
from pacsaudit.report.charts import CLASS_COLOURS, SEVERITY_COLOURS, bar_chart
from pacsaudit.report.diff import CHANGES, Diff, fmt_measure
from pacsaudit.report.records import Loaded
from pacsaudit.report.remedy import CATALOGUE, Advice, advice_for
from pacsaudit.report.service import Count, Service, ip_order
from pacsaudit.report.summary import Cell, Summary

MAX_TABLE_ROWS = 5000
"""Beyond this the page gets slow to sort; findings.csv has every row."""

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("pacsaudit.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def fmt_count(count: Count) -> str:
    if count.value is None:
        return "-"
    return f"≥{count.value:,}" if count.lower_bound else f"{count.value:,}"


def fmt_sum(value: int | None, lower: bool) -> str:
    if value is None:
        return "withheld"
    return f"≥{value:,}" if lower else f"{value:,}"


@dataclass(frozen=True, slots=True)
class Row:
    """One findings-table row: the finding and the fixes it calls for."""

    service: Service
    fixes: list[tuple[Advice, str]]

    @property
    def tls(self) -> str:
        t = self.service.tls
        if self.service.is_compromise:
            return "-"  # the share's own row says how it is served
        if t is None:
            return "none"
        words = [t.version or "TLS"]
        if t.self_signed:
            words.append("self-signed")
        if t.expired:
            words.append("expired")
        return " ".join(words)


def _cells(breakdown: dict[str, Cell]) -> list[tuple[str, int]]:
    return [(k, c.services) for k, c in breakdown.items()]


def _charts(summary: Summary) -> list[Markup]:
    return [
        bar_chart(
            "exposure-classes",
            "Services by exposure class",
            _cells(summary.by_exposure_class),
            colours=CLASS_COLOURS,
        ),
        bar_chart(
            "severity",
            "Services by severity",
            _cells(summary.by_severity),
            colours=SEVERITY_COLOURS,
        ),
        bar_chart("products", "Products and versions", _cells(summary.by_product_version)),
        bar_chart("countries", "Services by country", _cells(summary.by_country)),
        bar_chart("access-tiers", "DICOM access control", _cells(summary.by_access_tier)),
        bar_chart("device-classes", "DICOM device classes", _cells(summary.by_device_class)),
        bar_chart(
            "phi-attributes",
            "PHI attributes: services returning each",
            [(k, a.services) for k, a in summary.phi_attributes.items()],
            max_bars=20,
        ),
        bar_chart("ports", "Services by port", _cells(summary.by_port)),
        *(
            [
                bar_chart(
                    "compromise",
                    "Signs of compromise: hosts showing each",
                    list(summary.compromise.by_category.items()),
                )
            ]
            if summary.compromise.by_category
            else []
        ),
    ]


def _headline(summary: Summary) -> list[str]:
    """The executive summary in plain sentences, from the (possibly anonymised) summary."""
    t = summary.totals
    crit = summary.by_severity.get(Severity.CRITICAL)
    sentences = [
        f"{t.services:,} services answered; "
        + (f"{t.exposed:,} let anyone in" if t.exposed is not None else "exposure withheld")
        + (f", {crit.services:,} of them returning patient data without login." if crit else ".")
    ]
    if not t.suppressed and (t.patients or t.studies or t.images):
        sentences.append(
            f"Together they expose {fmt_sum(t.patients, t.patients_lower_bound)} patients, "
            f"{fmt_sum(t.studies, t.studies_lower_bound)} studies and "
            f"{fmt_sum(t.images, t.images_lower_bound)} images"
            + (f" ({fmt_sum(t.bytes, t.bytes_lower_bound)} bytes)." if t.bytes is not None else ".")
        )
    if not t.suppressed and t.worklist_patients:
        scheduled = fmt_sum(t.worklist_patients, t.worklist_patients_lower_bound)
        sentences.append(
            f"Modality worklists list {scheduled} scheduled patients to anyone; "
            "with the archives' patients, each counted once, "
            f"{fmt_sum(t.all_patients, t.all_patients_lower_bound)} patients in all"
            + (
                f" ({t.worklist_overlap_unhashed:,} services without comparable hashes count "
                "the larger of their archive and worklist numbers)."
                if t.worklist_overlap_unhashed
                else "."
            )
        )
    d = summary.distinct_patients
    if d.value is not None and d.keys:
        sentences.append(
            f"Keyed Patient ID hashes show {'at least ' if d.lower_bound else ''}"
            f"{d.value:,} distinct patients across services."
        )
    elif not d.comparable:
        sentences.append(
            f"Patient ID hashes were made with {d.keys} different keys: distinct patients are "
            "not merged across them."
        )
    loose = sum(
        c.services
        for k, c in summary.by_ae_policy.items()
        if k in ("any-called-ae", "called-ae-known-default", "guessable", "called-ae-revealed")
    )
    if loose:
        sentences.append(f"{loose:,} services accept any or a guessable AE title.")
    plain = summary.by_tls.get("plaintext")
    if plain:
        sentences.append(f"{plain.services:,} services speak without TLS.")
    if summary.by_cve:
        sentences.append(
            f"{len(summary.by_cve):,} published CVEs possibly apply to the versions the "
            "services report."
        )
    comp = summary.compromise
    if comp.hosts:
        kinds = ", ".join(comp.by_category) or "indicators withheld"
        if comp.hosts == 1:
            sentences.append(
                f"1 host shows signs of compromise on its file shares ({kinds}): it is already "
                "in someone else's hands and needs incident response, not only access control."
            )
        else:
            sentences.append(
                f"{comp.hosts:,} hosts show signs of compromise on their file shares ({kinds}): "
                "they are already in someone else's hands and need incident response, not only "
                "access control."
            )
    apart = sum(c.services for c in summary.flagged.values())
    if apart:
        sentences.append(
            f"{apart:,} services flagged as likely honeypots or demo data are counted apart."
        )
    return sentences


def _rows(loaded: Loaded) -> tuple[list[Row], int]:
    services = [s for s in loaded.services if s.is_service]
    services.sort(key=lambda s: (-s.severity_rank, s.country, *ip_order(s.ip), s.port))
    rows = [Row(s, advice_for(s)) for s in services[:MAX_TABLE_ROWS]]
    return rows, len(services)


def render_report(
    loaded: Loaded, summary: Summary, *, diff: Diff | None = None, generated: str | None = None
) -> str:
    """The whole page; ``summary`` is the anonymised one when ``summary.public``."""
    rows, total_rows = ([], 0) if summary.public else _rows(loaded)
    fix_counts = {a.id: 0 for a in CATALOGUE}
    for row in rows:
        for advice, _ in row.fixes:
            fix_counts[advice.id] += 1
    return _env.get_template("report.html.j2").render(
        version=__version__,
        generated=generated or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        summary=summary,
        headline=_headline(summary),
        charts=_charts(summary),
        rows=rows,
        total_rows=total_rows,
        catalogue=CATALOGUE,
        fix_counts=fix_counts,
        diff=diff,
        changes=CHANGES,
        fmt_count=fmt_count,
        fmt_sum=fmt_sum,
        fmt_measure=fmt_measure,
        severity_colours=SEVERITY_COLOURS,
    )


def render_diff(d: Diff, *, generated: str | None = None) -> str:
    return _env.get_template("diff.html.j2").render(
        version=__version__,
        generated=generated or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        diff=d,
        changes=CHANGES,
        fmt_measure=fmt_measure,
        severity_colours=SEVERITY_COLOURS,
    )
