"""``pacsaudit notify``: one Markdown notice per network owner, ready to send.

The researchers warned owners before publishing. An owner needs to know which of its services
are open, what each gives away and what to change — not our raw results. The user supplies the
map of networks to owners (CSV: ``cidr,owner,contact``); each finding goes to the owner of the
most specific network holding its address. Findings that no network covers are grouped by
country (one notice each: the starting point for a national CERT).

A notice holds addresses, ports, product names, severities, counts and attribute *names* — never
a value, a hash or a key id: it leaves the organisation that ran the scan.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pacsaudit import __version__
from pacsaudit.model import ExposureClass
from pacsaudit.peertext import defang, visible
from pacsaudit.report.records import Loaded, ReportInputError, plural
from pacsaudit.report.remedy import advice_for
from pacsaudit.report.service import SEVERITY_RANK, Service, ip_order

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Owner:
    name: str
    contact: str
    networks: tuple[IpNetwork, ...]


class OwnerMap:
    """Longest-prefix match of an address to its owner: one dict probe per prefix length."""

    def __init__(self, rows: Sequence[tuple[IpNetwork, str, str]]) -> None:
        merged: dict[str, tuple[str, list[IpNetwork]]] = {}
        for network, name, contact in rows:
            known = merged.setdefault(name, (contact, []))
            known[1].append(network)
            if contact and not known[0]:
                merged[name] = (contact, known[1])
        self.owners = {
            name: Owner(name, contact, tuple(nets)) for name, (contact, nets) in merged.items()
        }
        self._by_prefix: dict[tuple[int, int], dict[IpNetwork, Owner]] = {}
        for owner in self.owners.values():
            for net in owner.networks:
                self._by_prefix.setdefault((net.version, net.prefixlen), {})[net] = owner
        self._lengths = sorted(self._by_prefix, key=lambda vp: -vp[1])

    def owner_of(self, ip: str) -> Owner | None:
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return None
        for version, length in self._lengths:
            if version != address.version:
                continue
            net = ipaddress.ip_network(f"{address}/{length}", strict=False)
            owner = self._by_prefix[(version, length)].get(net)
            if owner is not None:
                return owner
        return None


def read_owner_map(path: Path) -> OwnerMap:
    """Parse the owners CSV; a bad row stops with its ``file:line`` and what is wrong."""
    if not path.is_file():
        raise ReportInputError(f"no such owners map: {path}")
    rows: list[tuple[IpNetwork, str, str]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            lines = (line for line in fh if line.strip() and not line.lstrip().startswith("#"))
            reader = csv.DictReader(lines, strict=True)  # an unclosed quote is an error
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "cidr" not in fields or "owner" not in fields:
                raise ReportInputError(
                    f"{path}: the first row must name the columns cidr,owner[,contact]"
                )
            reader.fieldnames = fields
            for row in reader:
                where = f"{path}:{reader.line_num}"
                cidr, owner = (row.get("cidr") or "").strip(), (row.get("owner") or "").strip()
                if not owner:
                    raise ReportInputError(f"{where}: no owner")
                try:
                    network = ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ReportInputError(f"{where}: not a network: {cidr[:60]!r}") from None
                rows.append((network, owner, (row.get("contact") or "").strip()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReportInputError(f"cannot read owners map {path}: {exc}") from None
    if not rows:
        raise ReportInputError(f"{path}: no networks in the owners map")
    return OwnerMap(rows)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md(text: object) -> str:
    """Escape Markdown and HTML syntax: product names and the like come from peers."""
    return _MD_SPECIAL.sub(r"\\\1", visible(str(text))).replace("\n", " ")


def peer_md(text: object) -> str:
    """A value of a finding, for Markdown: escaped as :func:`md` does, and with its URLs and
    domain names defanged (``hxxp://evil[.]example``) so that no mail client or Markdown
    renderer turns what a peer sent into a link. Values from the owners map (names, contacts)
    are the user's own and stay as they are."""
    return md(defang(str(text))).replace("@", "\\@")  # nor a mention or a mail link


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:60] or "owner"


def _count(value: int | None, lower: bool) -> str:
    if value is None:
        return "not counted"
    return f"at least {value:,}" if lower else f"{value:,}"


def _overlap(s: Service) -> str:
    """How the worklist's patients relate to the archive's, when both were counted."""
    if not s.patients.value or not s.worklist_patients.value:
        return ""
    overlap = s.worklist_overlap
    if overlap is None:
        return (
            " (whether they are also among the archive's patients cannot be told: the "
            "totals count the larger number for both)"
        )
    return f" ({overlap:,} of them also among the archive's patients, counted once)"


def _exposes(s: Service) -> str:
    if s.is_compromise:
        return "signs of compromise: " + (
            ", ".join(peer_md(i) for i in s.indicators) or "indicators"
        )
    parts = []
    if s.patients.value is not None or s.studies.value is not None:
        parts.append(
            f"{_count(s.patients.value, s.patients.lower_bound)} patients, "
            f"{_count(s.studies.value, s.studies.lower_bound)} studies, "
            f"{_count(s.images.value, s.images.lower_bound)} images"
        )
    if s.bytes.value is not None:
        parts.append(f"{_count(s.bytes.value, s.bytes.lower_bound)} bytes")
    if s.worklist_patients.value is not None:
        parts.append(
            f"{_count(s.worklist_patients.value, s.worklist_patients.lower_bound)} "
            "patients scheduled on its worklist"
        )
    if not parts:
        parts.append("an open service; nothing could be counted")
    return "; ".join(parts)


def _compromise_section(s: Service) -> list[str]:
    """A share's signs of compromise: what was seen and the one thing to do, before all else."""
    lines = [
        f"### {peer_md(s.target)} — signs of compromise on the share "
        f"({peer_md(s.severity or 'unrated')})",
        "",
        f"- **Seen:** {', '.join(peer_md(i) for i in s.indicators) or 'indicators'} "
        "(file names and contents matched pacsaudit's indicator list; the files were not kept)",
    ]
    fixes = advice_for(s)
    if fixes:
        lines += ["", "**What to do:**", ""]
        lines += [
            f"{i}. **{a.title}** ({peer_md(why)}). {a.text}" for i, (a, why) in enumerate(fixes, 1)
        ]
    lines.append("")
    return lines


def _service_section(s: Service) -> list[str]:
    if s.is_compromise:
        return _compromise_section(s)
    lines = [
        f"### {peer_md(s.target)} ({peer_md(s.protocol)}) — {peer_md(s.severity or 'unrated')}: "
        f"{peer_md(s.exposure_class or 'unclassified')}",
        "",
        f"- **Product:** {peer_md(s.product_version_label)}",
        f"- **Exposes:** {_exposes(s)}",
    ]
    if s.phi_exposed:
        attrs = ", ".join(f"{peer_md(k)} ({n:,} records)" for k, n in sorted(s.phi_exposed.items()))
        lines.append(f"- **Patient data attributes returned:** {attrs}")
    if s.ae_policy:
        tier = f" (access control: {peer_md(s.access_tier)})" if s.access_tier else ""
        lines.append(f"- **AE-title policy:** {peer_md(s.ae_policy)}{tier}")
    if s.called_ae_source:
        lines.append(f"- **AE title revealed by:** {peer_md(s.called_ae_source)}")
    if s.device_class:
        lines.append(f"- **Device class:** {peer_md(s.device_class)}")
    retrieval = []
    if s.move_check in ("destination-unknown", "accepted"):
        retrieval.append("C-MOVE processed for an unknown destination")
    if s.get_accepted:
        retrieval.append("C-GET accepted")
    if retrieval:
        lines.append(f"- **Retrieval:** {'; '.join(retrieval)} (nothing was retrieved)")
    if s.storage_classes:
        lines.append(
            f"- **Storage:** accepts {len(s.storage_classes)} Storage SOP classes from an "
            "unknown peer (the association was released unused: nothing was stored)"
        )
    if s.worklist_steps.value is not None:
        lines.append(
            f"- **Modality worklist:** "
            f"{_count(s.worklist_steps.value, s.worklist_steps.lower_bound)} scheduled steps "
            f"of {_count(s.worklist_patients.value, s.worklist_patients.lower_bound)} patients "
            f"listed without authentication{_overlap(s)}"
        )
    if s.tls is not None:
        tls = s.tls.version or "yes"
        tls += ", self-signed certificate" if s.tls.self_signed else ""
        tls += ", expired certificate" if s.tls.expired else ""
        lines.append(f"- **TLS:** {peer_md(tls)}")
    else:
        lines.append("- **TLS:** none (plaintext)")
    if s.cves:
        lines.append(f"- **Known vulnerabilities:** {', '.join(peer_md(c) for c in s.cves)}")
        if s.cve_basis and s.exposure_class == ExposureClass.MANAGEMENT_EXPOSED:
            lines.append(f"- **Basis:** {peer_md(s.cve_basis)}")
    if s.app_checks:
        lines.append(
            "- **Applications to check** (flaws of installed apps; their versions are not "
            f"shown): {', '.join(peer_md(c) for c in s.app_checks)}"
        )
    if s.flags:
        lines.append(f"- **Flags:** {', '.join(peer_md(f) for f in s.flags)}")
    fixes = advice_for(s)
    if fixes:
        lines += ["", "**What to do:**", ""]
        lines += [
            f"{i}. **{a.title}** ({peer_md(why)}). {a.text}" for i, (a, why) in enumerate(fixes, 1)
        ]
    lines.append("")
    return lines


def _notice(title: str, to: str, intro: str, services: Sequence[Service], loaded: Loaded) -> str:
    when = (loaded.first_seen or "")[:10]
    last = (loaded.last_seen or "")[:10]
    span = f"{when} – {last}" if last and last != when else when or "an unknown date"
    lines = [
        f"# {title}",
        "",
        f"**To:** {to}  ",
        f"**Date:** {datetime.now(UTC):%Y-%m-%d}  ",
        f"**Scan:** {span}",
        "",
        intro,
        "",
        "## Summary",
        "",
        "| service | protocol | product | severity | exposes |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {peer_md(s.target)} | {peer_md(s.protocol)} | "
        f"{'-' if s.is_compromise else peer_md(s.product_version_label)} | "
        f"{peer_md(s.severity or '-')} | {_exposes(s)} |"
        for s in services
    ]
    lines += ["", "## Services and fixes", ""]
    for s in services:
        lines += _service_section(s)
    lines += [
        "## How this was measured",
        "",
        "The services were probed with pacsaudit, which asks each one what an unauthenticated "
        "client may list — over a standard DICOM association (calling AE title `PACSAUDIT`, "
        "released cleanly), HTTP requests without credentials, or an anonymous or guest "
        "file-share session — and keeps only counts: no patient data was retrieved, stored or "
        "passed on, and no image was downloaded.",
        "",
        f"_Generated by pacsaudit {__version__}._",
        "",
    ]
    return "\n".join(lines)


def _count_services(services: Sequence[Service]) -> int:
    """Services, not findings: a share's signs of compromise are a finding about that share."""
    return sum(1 for s in services if not s.is_compromise)


def _compromise_sentence(services: Sequence[Service]) -> str:
    hosts = {s.ip for s in services if s.is_compromise}
    if not hosts:
        return ""
    which = "One host shows" if len(hosts) == 1 else f"{len(hosts)} hosts show"
    whose = "its" if len(hosts) == 1 else "their"
    return (
        f" {which} signs of compromise on {whose} file shares: start there, with incident "
        "response, before anything else."
    )


@dataclass
class NoticeSet:
    paths: list[Path] = field(default_factory=list)
    index: Path | None = None
    notified_services: int = 0
    below_threshold: int = 0


def write_notices(
    loaded: Loaded, owners: OwnerMap, out_dir: Path, *, min_severity: str = "medium"
) -> NoticeSet:
    """One notice per owner and per country of unmapped findings, plus ``index.csv``."""
    threshold = SEVERITY_RANK[min_severity]
    chosen = [s for s in loaded.services if s.is_service]
    result = NoticeSet(below_threshold=sum(1 for s in chosen if s.severity_rank < threshold))
    chosen = [s for s in chosen if s.severity_rank >= threshold]
    chosen.sort(key=lambda s: (-s.severity_rank, *ip_order(s.ip), s.port))
    by_owner: dict[str, list[Service]] = {}
    unmapped: dict[str, list[Service]] = {}
    for s in chosen:
        owner = owners.owner_of(s.ip)
        if owner is None:
            unmapped.setdefault(s.country, []).append(s)
        else:
            by_owner.setdefault(owner.name, []).append(s)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_rows: list[list[str]] = []
    used: set[str] = set()

    def emit(stem: str, text: str, owner: str, contact: str, services: list[Service]) -> None:
        name, n = stem, 2
        while name in used:
            name, n = f"{stem}-{n}", n + 1
        used.add(name)
        path = out_dir / f"{name}.md"
        path.write_text(text, "utf-8")
        result.paths.append(path)
        result.notified_services += _count_services(services)
        worst = services[0].severity or ""
        index_rows.append([path.name, owner, contact, str(_count_services(services)), worst])

    for name in sorted(by_owner):
        owner = owners.owners[name]
        services = by_owner[name]
        nets = ", ".join(md(n) for n in owner.networks)
        intro = (
            f"We found {plural(_count_services(services), 'medical-imaging service')} in "
            f"networks registered to {md(owner.name)} ({nets}) that answer anyone who can "
            "reach them. "
            "Each is listed below with what it exposes (counts only) and the concrete steps "
            "that close it." + _compromise_sentence(services)
        )
        title = f"Exposed medical-imaging services at {md(owner.name)}"
        emit(
            slug(name),
            _notice(title, md(owner.contact or owner.name), intro, services, loaded),
            owner.name,
            owner.contact,
            services,
        )
    for country in sorted(unmapped):
        services = unmapped[country]
        where = "local networks" if country == "local" else f"country {country}"
        intro = (
            f"These {plural(_count_services(services), 'service')} in {where} are in no "
            "network of the owners map. Find their operators (the registry's abuse contact, or "
            "the national CERT) and pass on the sections that concern them."
            + _compromise_sentence(services)
        )
        title = f"Exposed medical-imaging services without a known owner: {md(where)}"
        emit(
            f"unmapped-{slug(country)}",
            _notice(title, "to be determined", intro, services, loaded),
            "",
            "",
            services,
        )
    index = out_dir / "index.csv"
    with index.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["notice", "owner", "contact", "services", "worst_severity"])
        writer.writerows(index_rows)
    result.index = index
    return result
