"""The summary table's cells for an HTTP(S) finding, in the DICOM rows' columns.

So that web and DICOM exposures read side by side: *toolkit* names the product, *accepts* says
who gets in (anyone, a login, a shipped default login), *services* the APIs found, *exposed* the
counts (QIDO-RS or Orthanc's listing, else Orthanc's ``/statistics``), *retrieval* what would
serve the images.
"""

from __future__ import annotations

from rich.text import Text

from pacsaudit.model import Exposure, HttpResult, OrthancStatistics
from pacsaudit.report.cells import cell, count_text, exposure_text, joined, tls_text


def _product(r: HttpResult) -> str:
    if r.orthanc is not None and r.orthanc.version:
        return f"Orthanc {r.orthanc.version}"
    pacs = [a.product for a in r.apps if a.category == "pacs"]
    names = pacs or [a.product for a in r.apps]
    if not names and r.management is not None:
        m = r.management
        return " ".join(p for p in (m.product, m.model, m.firmware) if p)
    return names[0] if names else (r.server or "-")


def _accepts(r: HttpResult) -> Text:
    if r.credentials is not None and r.credentials.accepted_user is not None:
        return cell((f"default login {r.credentials.accepted_user}", "bold red"))
    open_api = (r.orthanc is not None and not r.orthanc.auth_required) or any(
        d.answered for d in r.dicomweb
    )
    if open_api or (r.listing is not None and r.listing.anonymous):
        return cell(("no login", "bold red"))
    if r.auth is not None:
        scheme = r.auth.scheme or str(r.auth.status_code)
        tried = f", {r.credentials.tried} defaults refused" if r.credentials else ""
        return cell((f"login ({scheme}{tried})", "green"))
    if any(not a.protected for a in r.apps):
        return cell(("no login", "red"))
    return cell("-")


def _services(r: HttpResult) -> str:
    parts: list[str] = []
    if r.orthanc is not None:
        parts.append("REST")
    for d in r.dicomweb:
        name = "QIDO" if d.service == "qido-rs" else "WADO-URI"
        if name not in parts:
            parts.append(name if not d.protected or d.answered else f"{name}(locked)")
    apps = [a.product for a in r.apps if a.category in ("viewer", "admin-ui", "ai")]
    parts.extend(apps[:3])
    if r.listing_format is not None:
        parts.append("WebDAV" if r.listing_format == "webdav" else "listing")
    return " ".join(parts) or "-"


def _exposed(e: Exposure | None, stats: OrthancStatistics | None) -> str:
    if e is not None and e.studies:
        return exposure_text(e)
    if stats is not None:
        return (
            f"{count_text(stats.patients, False)} pt / {count_text(stats.studies, False)} st / "
            f"{count_text(stats.instances, False)} im"
        )
    if e is not None:
        return "0 st"
    return "-"


def _retrieval(r: HttpResult) -> str:
    parts = []
    if r.orthanc is not None and r.orthanc.statistics is not None:
        parts.append("REST file")
    if any(d.service == "qido-rs" and d.answered for d in r.dicomweb):
        parts.append("WADO-RS")
    if any(d.service == "wado-uri" and d.answered for d in r.dicomweb):
        parts.append("WADO-URI")
    return " ".join(parts) or "-"


def http_cells(r: HttpResult) -> list[Text]:
    """toolkit, accepts, services, exposed, PHI attrs, retrieval, TLS."""
    phi = "-"
    if r.exposure is not None:
        phi = str(sum(1 for n in r.exposure.phi_attributes.values() if n > 0))
    stats = r.orthanc.statistics if r.orthanc is not None else None
    return [
        cell(_product(r)),
        _accepts(r),
        cell(_services(r)),
        cell(_exposed(r.exposure, stats)),
        cell(phi),
        cell(_retrieval(r)),
        cell(tls_text(r.tls)),
    ]


def http_notes(r: HttpResult) -> Text:
    notes = []
    if r.status_code is not None:
        notes.append(f"HTTP {r.status_code}")
    if r.auth is not None and r.auth.realm:
        notes.append(f'realm "{r.auth.realm}"')
    if r.exposure is not None and r.exposure.queries:
        notes.append(f"via {r.exposure.queries[0].model}")
    if r.listing_format is not None:
        notes.append(f"/ is a file share ({r.listing_format}): next row")
    notes.extend(_ae_titles(r))
    parts = [cell("; ".join(notes))] if notes else []
    if r.management is not None:
        parts.append(cell((f"{r.management.vendor} NAS administration page reachable", "red")))
    return joined("; ", parts)


def _ae_titles(r: HttpResult) -> list[str]:
    """The AE titles an API listed (already printable and bounded by the probe), a few."""
    notes = []
    for listing in r.ae_titles:
        shown = listing.titles[:4]
        more = len(listing.titles) - len(shown) + listing.unprintable
        extra = f" +{more}" if more or listing.truncated else ""
        names = " ".join(shown) if shown else "none printable"
        notes.append(f"AE titles at {listing.path}: {names}{extra}")
    return notes
