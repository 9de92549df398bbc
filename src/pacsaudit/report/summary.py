"""``summary.json``: the anonymous statistics researchers publish, computed from findings only.

Every number is a count or a sum of counts. What a breakdown counts is *services* (a port where
the protocol answered); the exposure measures (patients, studies, images, bytes) are sums over
those services, with the lower-bound flags of the findings carried through: one service whose
enumeration was cut short makes the sum a lower bound. A store two services show (Orthanc's
REST naming its own DICOM port) is counted once, by the larger of its two counts.

Services flagged ``likely-honeypot`` or ``demo-data`` are counted apart (``flagged``) and kept
out of the headline totals and the breakdowns: a honeypot's fake archive is not a hospital's.

Patients come from two places: the archive (Q/R, ``patients``) and the Modality Worklist
(``worklist_patients``: distinct patients among the scheduled steps). A patient who is both
scheduled and in the archive is one patient: ``all_patients`` counts each service's patients
once, leaving out the worklist patients whose keyed hash the same service's Q/R answers also
showed; where hashes cannot tell (another key, a side without hashes), the larger of the two
counts stands for both and the sum becomes a lower bound (``worklist_overlap_unhashed`` says on
how many services).

Distinct patients come from the keyed Patient ID hashes, Q/R and worklist together. Hashes are
comparable only when the same key made them, so they are merged per ``hash_key_id``; with
several keys no total is given.

``--public`` makes an anonymised release (:func:`anonymise`): no addresses, host names, AE titles,
hashes, key ids or file names, and every category backed by fewer than ``k`` services is
suppressed, as are exposure sums backed by fewer than ``k`` exposed services — a country with one
exposed hospital is not singled out. The schema is ``schemas/summary.schema.json``, generated
from these classes by ``tools/gen_schema.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from pacsaudit import __version__
from pacsaudit.model import json_schema
from pacsaudit.report.records import Loaded, exposure_sum
from pacsaudit.report.service import CLASS_ORDER, FLEET, SEVERITY_RANK, Service

SUMMARY_VERSION = 1
SET_APART_FLAGS = ("likely-honeypot", "demo-data", FLEET)
"""Flags whose services are counted apart from the headline totals."""


class Cell(msgspec.Struct, kw_only=True):
    """One category of a breakdown: how many services, how many exposed, what they expose."""

    services: int
    exposed: int | None
    """Services whose class means anyone reaching the port gets in; null when suppressed."""
    exposed_uncounted: int | None
    """Exposed services that let us count nothing (no query service): not in the sums."""
    patients: int | None
    """Patients the archives (Q/R, REST, DICOMDIR) let a stranger list."""
    patients_lower_bound: bool
    worklist_patients: int | None
    """Distinct patients on the Modality Worklists (keyed hashes per service)."""
    worklist_patients_lower_bound: bool
    all_patients: int | None
    """Archive and worklist patients, each service's patients counted once (the worklist
    patients its Q/R answers also showed, by keyed hash, are not added twice)."""
    all_patients_lower_bound: bool
    worklist_overlap_unhashed: int | None
    """Services with archive and worklist patients but no comparable hashes: their larger
    count stands for both in ``all_patients`` (a lower bound)."""
    studies: int | None
    studies_lower_bound: bool
    images: int | None
    images_lower_bound: bool
    bytes: int | None
    """Bytes exposed, where a probe measured them (file shares, web); null if none did."""
    bytes_lower_bound: bool
    suppressed: bool
    """``--public``: fewer than k exposed services back the sums, so they are withheld."""


class PhiAttribute(msgspec.Struct, kw_only=True):
    services: int
    """Services that returned the attribute non-empty in at least one record."""
    records: int
    """Returned records carrying the attribute, summed over those services."""


class DistinctPatients(msgspec.Struct, kw_only=True):
    value: int | None
    """Distinct keyed Patient ID hashes across services; null when the keys differ."""
    lower_bound: bool
    comparable: bool
    """False when hashes were made with several keys and cannot be merged."""
    keys: int
    per_key: dict[str, int]
    """Key id → distinct patients (``key-1``, ``key-2``… in a public release)."""
    services_without_hashes: int
    """Exposed services that reported patients but no hashes: not in ``value``."""
    worklist_only: int | None
    """Of ``value``: hashes seen on worklists and in no archive's answers — patients scheduled
    for an examination whom no open archive listed; null when the keys differ."""


class Inputs(msgspec.Struct, kw_only=True):
    files: list[str]
    """Empty in a public release."""
    records: int
    bad_lines: int
    bad_line_refs: list[str]
    """``file:line: reason`` of the first bad lines (empty in a public release)."""
    duplicates: int
    schema_versions: dict[str, int]
    first_seen: str | None
    last_seen: str | None


class Compromise(msgspec.Struct, kw_only=True):
    """Signs of compromise seen on file shares, kept out of the service breakdowns: a ransom
    note is not a service, it says the share's host is already someone else's. Counted per
    host (one address): a NAS showing the same note over FTP, SMB and rsync is one victim."""

    hosts: int | None
    """Addresses with at least one share whose walk matched an indicator; null when withheld
    (``--public``, fewer than k)."""
    by_category: dict[str, int]
    """Indicator category (``ransom-note``, ``miner-config``…) → hosts showing it."""
    by_country: dict[str, int]
    """Country → hosts."""


class Suppression(msgspec.Struct, kw_only=True):
    k: int
    categories: dict[str, int]
    """Breakdown name → how many of its categories were withheld."""
    sums: dict[str, int]
    """Breakdown name → how many categories had their exposure sums withheld."""


class Summary(msgspec.Struct, kw_only=True):
    """The document written to ``summary.json``."""

    summary_version: int = SUMMARY_VERSION
    generated_by: str = f"pacsaudit {__version__}"
    public: bool
    inputs: Inputs
    records_by_status: dict[str, int]
    totals: Cell
    """Headline: every service not flagged as a honeypot or demo data."""
    distinct_patients: DistinctPatients
    flagged: dict[str, Cell]
    by_protocol: dict[str, Cell]
    by_exposure_class: dict[str, Cell]
    by_severity: dict[str, Cell]
    by_port: dict[str, Cell]
    by_product: dict[str, Cell]
    by_product_version: dict[str, Cell]
    by_country: dict[str, Cell]
    by_tls: dict[str, Cell]
    """``plaintext``, ``tls`` and, among TLS services, certificate problems."""
    by_ae_policy: dict[str, Cell]
    by_access_tier: dict[str, Cell]
    """DICOM services by how hard it was to be let in: ``none``, ``weak``, ``strong``."""
    by_device_class: dict[str, Cell]
    by_cve: dict[str, Cell]
    phi_attributes: dict[str, PhiAttribute]
    compromise: Compromise
    suppression: Suppression | None
    warnings: list[str]


@dataclass
class _Acc:
    """The services of one category; sums are taken once, each archive counted once."""

    services: list[Service] = field(default_factory=list)

    def add(self, s: Service) -> None:
        self.services.append(s)

    def cell(self) -> Cell:
        sums = {
            name: exposure_sum(self.services, name)
            for name in ("patients", "worklist_patients", "all_patients", "studies", "images")
        }
        sums["bytes"] = exposure_sum(self.services, "bytes")
        return Cell(
            services=len(self.services),
            exposed=sum(1 for s in self.services if s.exposed),
            exposed_uncounted=sum(
                1
                for s in self.services
                if s.exposed
                and s.patients.value is None
                and s.studies.value is None
                and s.worklist_patients.value is None
            ),
            patients=sums["patients"].value or 0,
            patients_lower_bound=sums["patients"].lower_bound,
            worklist_patients=sums["worklist_patients"].value or 0,
            worklist_patients_lower_bound=sums["worklist_patients"].lower_bound,
            all_patients=sums["all_patients"].value or 0,
            all_patients_lower_bound=sums["all_patients"].lower_bound,
            worklist_overlap_unhashed=sum(
                1
                for s in self.services
                if s.worklist_overlap is None
                and (s.patients.value or 0) > 0
                and (s.worklist_patients.value or 0) > 0
            ),
            studies=sums["studies"].value or 0,
            studies_lower_bound=sums["studies"].lower_bound,
            images=sums["images"].value or 0,
            images_lower_bound=sums["images"].lower_bound,
            bytes=sums["bytes"].value,
            bytes_lower_bound=sums["bytes"].lower_bound,
            suppressed=False,
        )


def _breakdown(
    services: Iterable[Service],
    keys: Callable[[Service], Iterable[str]],
    order: Callable[[tuple[str, Cell]], tuple[int, str]] | None = None,
) -> dict[str, Cell]:
    accs: dict[str, _Acc] = {}
    for s in services:
        for key in keys(s):
            accs.setdefault(key, _Acc()).add(s)
    cells = [(k, a.cell()) for k, a in accs.items()]
    cells.sort(key=order or (lambda kv: (-kv[1].services, kv[0])))
    return dict(cells)


def _tls_keys(s: Service) -> list[str]:
    if s.tls is None:
        return ["plaintext"]
    keys = ["tls"]
    if s.tls.self_signed:
        keys.append("tls-self-signed-certificate")
    if s.tls.expired:
        keys.append("tls-expired-certificate")
    if s.tls.client_certificate_requested is True:
        keys.append("tls-client-certificate-required")
    return keys


def _distinct(services: Sequence[Service]) -> DistinctPatients:
    per_key: dict[str, set[str]] = {}
    archived: dict[str, set[str]] = {}
    lower = False
    without = 0
    for s in services:
        if not s.exposed:
            continue
        for key, hashes in s.keyed_hashes().items():
            per_key.setdefault(key, set()).update(hashes)
        if s.patient_hashes and s.hash_key_id:
            archived.setdefault(s.hash_key_id, set()).update(s.patient_hashes)
            lower |= s.patients.lower_bound
        elif (s.patients.value or s.distinct_patients) > 0:
            without += 1
        if s.worklist_hashes and s.worklist_hash_key_id:
            lower |= s.worklist_patients.lower_bound
        elif (s.worklist_patients.value or 0) > 0:
            without += 1
    counts = {k: len(v) for k, v in sorted(per_key.items())}
    comparable = len(counts) <= 1
    worklist_only = None
    if comparable:
        worklist_only = sum(len(v - archived.get(k, set())) for k, v in per_key.items())
    return DistinctPatients(
        value=sum(counts.values()) if comparable else None,
        lower_bound=lower or without > 0,
        comparable=comparable,
        keys=len(counts),
        per_key=counts,
        services_without_hashes=without,
        worklist_only=worklist_only,
    )


def summarise(loaded: Loaded, *, public: bool = False) -> Summary:
    """The summary of the loaded findings, not yet anonymised.

    ``public``: products named only by a peer's free-form banner are left unidentified, since
    a greeting can name its hospital; :func:`anonymise` does the rest.
    """
    services = [s for s in loaded.services if s.is_service and not s.is_compromise]
    apart = [s for s in services if _set_apart(s)]
    counted = [s for s in services if not _set_apart(s)]
    total = _Acc()
    for s in counted:
        total.add(s)

    def by_class(kv: tuple[str, Cell]) -> tuple[int, str]:
        k = kv[0]
        return (CLASS_ORDER.index(k) if k in CLASS_ORDER else len(CLASS_ORDER), k)

    def by_severity(kv: tuple[str, Cell]) -> tuple[int, str]:
        return (-SEVERITY_RANK.get(kv[0], -1), kv[0])

    phi_services: Counter[str] = Counter()
    phi_records: Counter[str] = Counter()
    for s in counted:
        for name, n in s.phi_exposed.items():
            phi_services[name] += 1
            phi_records[name] += n
    phi = {
        name: PhiAttribute(services=n, records=phi_records[name])
        for name, n in sorted(phi_services.items(), key=lambda kv: (-kv[1], kv[0]))
    }
    status_counts = Counter(s.status for s in loaded.services)
    return Summary(
        public=False,
        inputs=Inputs(
            files=list(loaded.files),
            records=loaded.records,
            bad_lines=len(loaded.bad_lines),
            bad_line_refs=[str(b) for b in loaded.bad_lines[:100]],
            duplicates=loaded.duplicates,
            schema_versions={str(k): v for k, v in sorted(loaded.schema_versions.items())},
            first_seen=loaded.first_seen,
            last_seen=loaded.last_seen,
        ),
        records_by_status=dict(sorted(status_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        totals=total.cell(),
        distinct_patients=_distinct(counted),
        flagged=_breakdown(apart, lambda s: [f for f in s.flags if f in SET_APART_FLAGS]),
        by_protocol=_breakdown(counted, lambda s: [s.protocol]),
        by_exposure_class=_breakdown(
            counted, lambda s: [s.exposure_class or "unclassified"], by_class
        ),
        by_severity=_breakdown(counted, lambda s: [s.severity or "unrated"], by_severity),
        by_port=_breakdown(counted, lambda s: [str(s.port)]),
        by_product=_breakdown(
            counted, lambda s: [s.public_product_label if public else s.product_label]
        ),
        by_product_version=_breakdown(
            counted,
            lambda s: [s.public_product_version_label if public else s.product_version_label],
        ),
        by_country=_breakdown(counted, lambda s: [s.country]),
        by_tls=_breakdown(counted, _tls_keys),
        by_ae_policy=_breakdown(counted, lambda s: [s.ae_policy] if s.ae_policy else []),
        by_access_tier=_breakdown(counted, lambda s: [s.access_tier] if s.access_tier else []),
        by_device_class=_breakdown(counted, lambda s: [s.device_class] if s.device_class else []),
        by_cve=_breakdown(counted, lambda s: s.cves),
        phi_attributes=phi,
        compromise=_compromise([s for s in loaded.services if s.is_compromise]),
        suppression=None,
        warnings=list(loaded.warnings),
    )


def _compromise(found: Sequence[Service]) -> Compromise:
    categories: dict[str, set[str]] = {}
    countries: dict[str, set[str]] = {}
    for s in found:
        for category in set(s.indicators) or {"unspecified"}:
            categories.setdefault(category, set()).add(s.ip)
        countries.setdefault(s.country, set()).add(s.ip)

    def ranked(groups: dict[str, set[str]]) -> dict[str, int]:
        return dict(
            sorted(((k, len(v)) for k, v in groups.items()), key=lambda kv: (-kv[1], kv[0]))
        )

    return Compromise(
        hosts=len({s.ip for s in found}),
        by_category=ranked(categories),
        by_country=ranked(countries),
    )


def _set_apart(s: Service) -> bool:
    return any(f in SET_APART_FLAGS for f in s.flags)


BREAKDOWNS = (
    "flagged",
    "by_protocol",
    "by_exposure_class",
    "by_severity",
    "by_port",
    "by_product",
    "by_product_version",
    "by_country",
    "by_tls",
    "by_ae_policy",
    "by_access_tier",
    "by_device_class",
    "by_cve",
)


def _withhold_sums(cell: Cell) -> Cell:
    return msgspec.structs.replace(
        cell,
        exposed=None,
        exposed_uncounted=None,
        patients=None,
        patients_lower_bound=False,
        worklist_patients=None,
        worklist_patients_lower_bound=False,
        all_patients=None,
        all_patients_lower_bound=False,
        worklist_overlap_unhashed=None,
        studies=None,
        studies_lower_bound=False,
        images=None,
        images_lower_bound=False,
        bytes=None,
        bytes_lower_bound=False,
        suppressed=True,
    )


def _small(cell: Cell, k: int) -> bool:
    """Sums backed by 1…k-1 exposed services would describe those few services."""
    return cell.exposed is not None and 0 < cell.exposed < k


def anonymise(summary: Summary, k: int) -> Summary:
    """The public release of a summary: see the module docstring for what is withheld."""
    if k < 1:
        raise ValueError("k must be at least 1")
    withheld: dict[str, int] = {}
    sums: dict[str, int] = {}
    changes: dict[str, object] = {}
    for name in BREAKDOWNS:
        cells: dict[str, Cell] = getattr(summary, name)
        kept: dict[str, Cell] = {}
        for key, cell in cells.items():
            if cell.services < k:
                withheld[name] = withheld.get(name, 0) + 1
            elif _small(cell, k):
                sums[name] = sums.get(name, 0) + 1
                kept[key] = _withhold_sums(cell)
            else:
                kept[key] = cell
        changes[name] = kept
    phi = {n: a for n, a in summary.phi_attributes.items() if a.services >= k}
    if len(phi) < len(summary.phi_attributes):
        withheld["phi_attributes"] = len(summary.phi_attributes) - len(phi)
    compromise, compromise_withheld = _anonymise_compromise(summary.compromise, k)
    if compromise_withheld:
        withheld["compromise"] = compromise_withheld
    statuses = {st: n for st, n in summary.records_by_status.items() if n >= k}
    if len(statuses) < len(summary.records_by_status):
        withheld["records_by_status"] = len(summary.records_by_status) - len(statuses)
    totals = summary.totals
    distinct = summary.distinct_patients
    if _small(totals, k):
        totals = _withhold_sums(totals)
        sums["totals"] = 1
        distinct = msgspec.structs.replace(distinct, value=None, per_key={}, worklist_only=None)
    else:
        labels = {key: f"key-{i}" for i, key in enumerate(distinct.per_key, start=1)}
        distinct = msgspec.structs.replace(
            distinct, per_key={labels[key]: n for key, n in distinct.per_key.items()}
        )
    inputs = msgspec.structs.replace(summary.inputs, files=[], bad_line_refs=[])
    return msgspec.structs.replace(
        summary,
        public=True,
        inputs=inputs,
        records_by_status=statuses,
        totals=totals,
        distinct_patients=distinct,
        phi_attributes=phi,
        compromise=compromise,
        suppression=Suppression(k=k, categories=withheld, sums=sums),
        warnings=[_public_warning(w) for w in summary.warnings],
        **changes,
    )


def _anonymise_compromise(c: Compromise, k: int) -> tuple[Compromise, int]:
    """Categories and countries seen on fewer than k hosts are withheld; so is the total."""
    categories = {name: n for name, n in c.by_category.items() if n >= k}
    countries = {name: n for name, n in c.by_country.items() if n >= k}
    withheld = len(c.by_category) - len(categories) + len(c.by_country) - len(countries)
    small = c.hosts is not None and 0 < c.hosts < k
    withheld += small
    return Compromise(
        hosts=None if small else c.hosts, by_category=categories, by_country=countries
    ), withheld


def _public_warning(text: str) -> str:
    """Warnings name files and lines; a public release keeps only what they are about."""
    if "holds no valid findings" in text:
        return "an input holds no valid findings"
    if " bad line" in text and " skipped" in text:
        return text.split(": ", 1)[0]
    return text


_encoder = msgspec.json.Encoder()


def encode_summary(summary: Summary) -> bytes:
    """Indented JSON with a trailing newline: a file people read and diff."""
    return msgspec.json.format(_encoder.encode(summary), indent=2) + b"\n"


def summary_schema() -> dict[str, object]:
    schema = json_schema(Summary)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://pacsaudit.invalid/schemas/summary.schema.json"
    schema["title"] = "pacsaudit summary.json (statistics of a set of findings)"
    return schema
