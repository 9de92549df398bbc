"""One finding's JSON read field by field into a :class:`Service`: what every reporter needs.

Everything inside ``result`` is untyped JSON a scan (perhaps an older or newer pacsaudit, perhaps
a hand-edited file) wrote, so every field is read with a type check and a wrong type counts as
absent; strings pass through :func:`pacsaudit.peertext.visible`. The file-level rules (the
envelope, bad lines, duplicates) are :mod:`pacsaudit.report.records`'.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pacsaudit import model
from pacsaudit.model import COMPROMISE_PROTOCOL, Severity
from pacsaudit.peertext import visible
from pacsaudit.report.geo import country_of

NAMES_IN_PATHS = "names-in-paths"
"""Flag of a share whose sampled files sit in folders named after their patients."""

EXPOSED_CLASSES: frozenset[str] = frozenset(c.value for c in model.EXPOSED_CLASSES)
"""Classes that mean anyone reaching the port gets in; a class added later (or one a newer
pacsaudit wrote) counts as exposed when its severity is medium or worse."""

SEVERITY_RANK: Mapping[str, int] = {s.value: s.rank for s in Severity}
"""Severity name → rank, for the strings the reports read back from findings."""
CLASS_ORDER: tuple[str, ...] = tuple(c.value for c in model.CLASS_ORDER)
NO_SERVICE_STATUSES: frozenset[str] = frozenset(s.value for s in model.NO_SERVICE_STATUSES)
BANNER_PREFIX = "banner: "
"""Marks a product named only by the peer's free-form greeting or Server header."""
MAX_LISTED_AE_TITLES = 32
"""Listed AE titles read back per service (the probe keeps at most 32 per listing)."""
FLEET = "fleet"
"""Flag the reports add to services of a fleet (``pacsaudit.intel.fleets``)."""


@dataclass(frozen=True, slots=True)
class Count:
    """One measured quantity: ``None`` when not measured; ``lower_bound`` when cut short."""

    value: int | None = None
    lower_bound: bool = False


@dataclass(frozen=True, slots=True)
class TlsFacts:
    version: str | None
    self_signed: bool
    expired: bool
    client_certificate_requested: bool | None


_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Service:
    """What the reporters need of one finding, read defensively."""

    source: str
    """``file:line`` the record came from."""
    ip: str
    port: int
    protocol: str
    status: str
    timestamp: str
    host: str | None = None
    country: str = "unknown"
    exposure_class: str | None = None
    severity: str | None = None
    ae_policy: str | None = None
    accepted_ae: str | None = None
    called_ae_source: str | None = None
    device_class: str | None = None
    access_tier: str | None = None
    product: str | None = None
    version: str | None = None
    cves: tuple[str, ...] = ()
    cve_basis: str | None = None
    """What the CVEs rest on (a NAS's: the firmware version its page shows, ransomware use)."""
    app_checks: tuple[str, ...] = ()
    """A NAS's application flaws to check (``CVE (app, family)``): never counted as CVEs."""
    flags: tuple[str, ...] = ()
    tls: TlsFacts | None = None
    patients: Count = Count()
    studies: Count = Count()
    images: Count = Count()
    bytes: Count = Count()
    phi_attributes: Mapping[str, int] = field(default_factory=lambda: _NO_COUNTS)
    distinct_patients: int = 0
    patient_hashes: tuple[str, ...] = ()
    hash_key_id: str | None = None
    get_accepted: bool = False
    move_check: str | None = None
    storage_classes: tuple[str, ...] = ()
    """Storage SOP classes a stranger's association was granted (never used to store)."""
    workflow_services: tuple[str, ...] = ()
    """MPPS, Storage Commitment, Print, UPS accepted (never used)."""
    worklist_steps: Count = Count()
    """Scheduled procedure steps a Modality Worklist C-FIND listed."""
    worklist_patients: Count = Count()
    """Distinct patients (keyed Patient ID hashes) among those steps; a lower bound when the
    worklist query was cut short."""
    worklist_hashes: tuple[str, ...] = ()
    worklist_hash_key_id: str | None = None
    anonymous: bool = False
    """A file share let an anonymous or guest session in."""
    error_kind: str | None = None
    indicators: tuple[str, ...] = ()
    """Categories of the signs of compromise (``ransom-note``, ``miner-config``…) a
    ``compromise`` finding holds."""
    listed_ae_titles: tuple[str, ...] = ()
    """AE titles a web API listed to anyone (dcm4chee-arc ``/aets``, an AI gateway, Dicoogle),
    in order, each once, at most :data:`MAX_LISTED_AE_TITLES`: what a stranger needs to open
    the host's DICOM port."""
    listed_ae_titles_withheld: int = 0
    """Entries those APIs listed whose title was not kept: missing, or outside the AE-title
    alphabet."""
    listed_ae_titles_cut: bool = False
    """More titles were listed than kept (the probe's bound, or :data:`MAX_LISTED_AE_TITLES`
    here), uncounted."""
    archive: str | None = None
    """``ip:port`` of the DICOM service whose store this service also shows: Orthanc's REST
    names its DICOM port in ``/system``, and both views count the same patients."""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.ip, self.port, self.protocol)

    @property
    def target(self) -> str:
        """``ip:port`` with IPv6 in brackets, as a user would type it."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    @property
    def is_service(self) -> bool:
        """The protocol answered (even to refuse us): a service to count, not just a port."""
        return self.exposure_class is not None or self.status not in NO_SERVICE_STATUSES

    @property
    def is_compromise(self) -> bool:
        """A share walk's signs of compromise: reported beside the share, never counted as a
        service of its own in the statistics (it has no product, port or TLS of its own)."""
        return self.protocol == COMPROMISE_PROTOCOL

    @property
    def exposed(self) -> bool:
        if self.exposure_class == model.ExposureClass.MANAGEMENT_EXPOSED:
            return False  # a login page answers, nobody is let in: counted and advised apart
        return self.exposure_class in EXPOSED_CLASSES or (
            self.exposure_class is not None and self.severity_rank >= SEVERITY_RANK["medium"]
        )

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK.get(self.severity or "", -1)

    @property
    def product_label(self) -> str:
        return self.product or "unidentified"

    @property
    def public_product_label(self) -> str:
        """A greeting may name the hospital ("Welcome to St Mary's PACS"): not in a release."""
        if self.product and self.product.startswith(BANNER_PREFIX):
            return "unidentified"
        return self.product_label

    @property
    def public_product_version_label(self) -> str:
        if self.product and self.product.startswith(BANNER_PREFIX):
            return "unidentified"
        return self.product_version_label

    @property
    def product_version_label(self) -> str:
        if self.product is None:
            return "unidentified"
        return f"{self.product} {self.version}" if self.version else self.product

    @property
    def listed_ae_label(self) -> str:
        """The listed AE titles as one cell: ``DCM4CHEE; IOCM_REGULAR_USE (+3 not shown)``
        (``; `` between them: a title the probe keeps may hold spaces, never a semicolon);
        empty for none."""
        more = []
        if self.listed_ae_titles_withheld:
            more.append(f"+{self.listed_ae_titles_withheld}")
        if self.listed_ae_titles_cut:
            more.append("more")
        tail = f"({' and '.join(more)} not shown)" if more else ""
        return " ".join(p for p in ("; ".join(self.listed_ae_titles), tail) if p)

    @property
    def worklist_overlap(self) -> int | None:
        """Worklist patients also among the Q/R patients of this service, by keyed hash;
        ``None`` when the hashes cannot tell (another key, or either side counted patients
        it has no hash for)."""
        qr, wl = self.patients.value, self.worklist_patients.value
        if qr is None or wl is None:
            return None
        if qr == 0 or wl == 0:
            return 0
        if (
            self.hash_key_id is None
            or self.hash_key_id != self.worklist_hash_key_id
            or len(self.patient_hashes) < qr
            or len(self.worklist_hashes) < wl
        ):
            return None
        return len(set(self.worklist_hashes) & set(self.patient_hashes))

    @property
    def all_patients(self) -> Count:
        """Patients of this service's archive (Q/R) and worklist, each counted once.

        The worklist patients whose keyed hash the Q/R answers also showed are not added
        again. Where the hashes cannot tell (:attr:`worklist_overlap` is ``None``), the
        larger of the two counts stands for both, as a lower bound: never a double count."""
        qr, wl = self.patients, self.worklist_patients
        if wl.value is None:
            return qr
        if qr.value is None:
            return wl
        lower = qr.lower_bound or wl.lower_bound
        overlap = self.worklist_overlap
        if overlap is None:
            return Count(max(qr.value, wl.value), True)
        return Count(qr.value + wl.value - overlap, lower)

    def keyed_hashes(self) -> dict[str, set[str]]:
        """Key id → the Patient ID hashes this service showed, Q/R and worklist together."""
        out: dict[str, set[str]] = {}
        if self.hash_key_id and self.patient_hashes:
            out.setdefault(self.hash_key_id, set()).update(self.patient_hashes)
        if self.worklist_hash_key_id and self.worklist_hashes:
            out.setdefault(self.worklist_hash_key_id, set()).update(self.worklist_hashes)
        return out

    @property
    def phi_exposed(self) -> dict[str, int]:
        return {k: n for k, n in self.phi_attributes.items() if n > 0}


def ip_order(ip: str) -> tuple[int, int]:
    """Sort key putting addresses in numeric order, IPv4 first."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return (9, 0)
    return (address.version, int(address))


def _str(d: Mapping[str, Any], key: str) -> str | None:
    """A string field, its control characters made visible: results written before peer text
    was cleaned at the probes (or edited by hand) must not steer a report's reader either."""
    v = d.get(key)
    return visible(v) if isinstance(v, str) and v else None


def _int(d: Mapping[str, Any], key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _bool(d: Mapping[str, Any], key: str) -> bool:
    return d.get(key) is True


def json_object(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A JSON object field, or an empty mapping for anything else (absent, null, a list)."""
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def _counts(d: Mapping[str, Any], key: str) -> dict[str, int]:
    return {
        visible(str(k)): v
        for k, v in json_object(d, key).items()
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0
    }


def _names(value: object, keys: Sequence[str]) -> tuple[str, ...]:
    """Names from ``["a", …]``, ``[{"id": "a", …}, …]`` or ``{"a": evidence, …}``.

    Flags and CVEs are being added to the model as this is written; any of these shapes is read.
    """
    items: list[str] = []
    if isinstance(value, dict):
        items = [str(k) for k in value]
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, dict):
                name = next((item[k] for k in keys if isinstance(item.get(k), str)), None)
                if name:
                    items.append(name)
    return tuple(dict.fromkeys(visible(i) for i in items if i))


def _hashes(value: object) -> tuple[str, ...]:
    return tuple(h for h in value if isinstance(h, str)) if isinstance(value, list) else ()


def _count(d: Mapping[str, Any], key: str) -> Count:
    return Count(_int(d, key), _bool(d, f"{key}_lower_bound"))


def _tls(result: Mapping[str, Any]) -> TlsFacts | None:
    tls = result.get("tls")
    if not isinstance(tls, dict):
        return None
    cert = json_object(tls, "certificate")
    requested = tls.get("client_certificate_requested")
    return TlsFacts(
        version=_str(tls, "version"),
        self_signed=_bool(cert, "self_signed"),
        expired=_bool(cert, "expired"),
        client_certificate_requested=requested if isinstance(requested, bool) else None,
    )


def read_service(source: str, env: Mapping[str, Any]) -> Service:
    if env.get("result") is None and env["status"] in ("closed", "filtered"):
        # Most records of a large scan: nothing but the envelope, read on a fast path.
        return Service(
            source=source,
            ip=visible(env["ip"]),
            port=env["port"],
            protocol=visible(env["protocol"]),
            status=visible(env["status"]),
            timestamp=_str(env, "timestamp") or "",
            host=_str(env, "host"),
        )
    result = json_object(env, "result")
    exposure = json_object(result, "exposure")
    retrieval = json_object(result, "retrieval")
    storage = json_object(result, "storage")
    worklist = json_object(result, "worklist")
    hashes = exposure.get("patient_id_hashes")
    wl_hashes = worklist.get("patient_id_hashes")
    nas = json_object(result, "management")
    product, version = _product(result)
    flags = _names(result.get("flags"), ("flag", "name", "id", "kind"))
    share = json_object(result, "listing") or result  # a web listing's walk counts like a share's
    if (_int(share, "samples_in_named_paths") or 0) > 0:
        flags = (*flags, NAMES_IN_PATHS)  # the share's listing alone names patients
    ip = visible(env["ip"])
    return Service(
        source=source,
        ip=ip,
        port=env["port"],
        protocol=visible(env["protocol"]),
        status=visible(env["status"]),
        timestamp=_str(env, "timestamp") or "",
        host=_str(env, "host"),
        country=country_of(ip),
        exposure_class=_str(result, "exposure_class"),
        severity=_str(result, "severity"),
        ae_policy=_str(result, "ae_policy"),
        accepted_ae=_str(result, "accepted_called_ae"),
        called_ae_source=_str(result, "called_ae_source"),
        device_class=_str(result, "device_class"),
        access_tier=_str(result, "access_tier"),
        product=product,
        version=version,
        cves=_names(result.get("cves") or nas.get("cves"), ("id", "cve")),
        cve_basis=_str(result, "cve_basis") or _str(nas, "cve_basis"),
        app_checks=_names(nas.get("app_checks"), ()),
        flags=flags,
        tls=_tls(result),
        **_measures(result, exposure),
        anonymous=_bool(share, "anonymous"),
        distinct_patients=_int(exposure, "distinct_patients") or 0,
        patient_hashes=_hashes(hashes),
        hash_key_id=_str(exposure, "hash_key_id"),
        get_accepted=_bool(retrieval, "get_accepted"),
        move_check=_str(retrieval, "move_check"),
        storage_classes=_names(storage.get("accepted"), ()),
        workflow_services=_names(storage.get("services_accepted"), ()),
        worklist_steps=_count(worklist, "scheduled_steps"),
        worklist_patients=Count(
            _int(worklist, "distinct_patients"), _bool(worklist, "scheduled_steps_lower_bound")
        ),
        worklist_hashes=_hashes(wl_hashes),
        worklist_hash_key_id=_str(worklist, "hash_key_id"),
        error_kind=_str(json_object(env, "error"), "kind"),
        indicators=_names(result.get("indicators"), ("category", "indicator")),
        **_listed_ae_titles(result.get("ae_titles")),
    )


def _listed_ae_titles(value: object) -> dict[str, Any]:
    """``HttpResult.ae_titles`` read back: every listing's titles in order, once each, at most
    :data:`MAX_LISTED_AE_TITLES`; the entries not kept counted (a listing's ``unprintable``
    ones, a title that is not a string), and whether some were cut off uncounted (a
    ``truncated`` listing, titles past the bound here)."""
    titles: dict[str, None] = {}
    withheld = 0
    cut = False
    for listing in value[:16] if isinstance(value, list) else ():
        if not isinstance(listing, dict):
            continue
        withheld += _int(listing, "unprintable") or 0
        cut = cut or _bool(listing, "truncated")
        listed = listing.get("titles")
        for title in listed if isinstance(listed, list) else ():
            if not isinstance(title, str) or not title.strip():
                withheld += 1
                continue
            shown = visible(title.strip()[:16])
            if shown in titles:
                continue
            if len(titles) < MAX_LISTED_AE_TITLES:
                titles[shown] = None
            else:
                cut = True
                break
    return {
        "listed_ae_titles": tuple(titles),
        "listed_ae_titles_withheld": withheld,
        "listed_ae_titles_cut": cut,
    }


def _measures(result: Mapping[str, Any], exposure: Mapping[str, Any]) -> dict[str, Any]:
    """Patients, studies, images, bytes and PHI counts, wherever the result keeps them.

    DICOM and HTTP results carry an ``exposure`` object; a file share's result counts DICOM
    files and their bytes at its top level (images), with patients and studies only where a
    DICOMDIR was read. An HTTP result's open directory listing or WebDAV folder (``listing``)
    is such a share.
    """
    if not exposure and json_object(result, "listing"):
        result = json_object(result, "listing")
    if exposure or _str(result, "kind") != "fileshare":
        return {
            "patients": _count(exposure, "patients"),
            "studies": _count(exposure, "studies"),
            "images": _count(exposure, "images"),
            "bytes": _count(exposure, "bytes"),
            "phi_attributes": _counts(exposure, "phi_attributes"),
        }
    cut = _bool(result, "lower_bound")
    dicomdir = json_object(result, "dicomdir")
    listed = _int(dicomdir, "files")
    dir_cut = cut or _bool(dicomdir, "lower_bound")
    detected = _str(result, "dicom_detection") is not None or bool(_int(result, "dicom_files"))
    lower = cut or _bool(result, "dicom_lower_bound")
    return {
        "patients": Count(_int(dicomdir, "patients"), dir_cut) if listed else Count(),
        "studies": Count(_int(dicomdir, "studies"), dir_cut) if listed else Count(),
        "images": Count(_int(result, "dicom_files"), lower) if detected else Count(),
        "bytes": Count(_int(result, "dicom_bytes"), lower) if detected else Count(),
        "phi_attributes": _counts(result, "phi_attributes"),
    }


def _product(result: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Product and version as a reader names them.

    The toolkit's version is the product's only where the product *is* the toolkit (pynetdicom,
    DCMTK's storescp); Orthanc reports DCMTK's identifiers, so "Orthanc 3.6.7" would be wrong
    and the toolkit is named beside it instead.
    """
    product, toolkit = _str(result, "product"), _str(result, "toolkit")
    toolkit_version = _str(result, "toolkit_version")
    if product is None and toolkit is None:
        return _web_product(result)
    if product is None:
        return toolkit, toolkit_version
    if _str(result, "product_version"):
        return product, _str(result, "product_version")
    if toolkit and product.split()[0] == toolkit:
        return product, toolkit_version
    if toolkit:
        return product, f"({toolkit} {toolkit_version})" if toolkit_version else f"({toolkit})"
    return product, None


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def is_ip(text: str) -> bool:
    """A regular expression for IPv4 (most of a large scan; ipaddress is ten times slower)."""
    if _IPV4.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _web_product(result: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """HTTP and file-share results name the software by what answered, not by a toolkit."""
    orthanc = json_object(result, "orthanc")
    if orthanc:
        return "Orthanc", _str(orthanc, "version")
    apps = result.get("apps")
    if isinstance(apps, list):
        named = [a for a in apps if isinstance(a, dict) and _str(a, "product")]
        pacs = [a for a in named if _str(a, "category") == "pacs"]  # as the table names it
        if named:
            return _str((pacs or named)[0], "product"), None
    nas = json_object(result, "management")
    if _str(nas, "product"):
        model = _str(nas, "model")
        return f"{_str(nas, 'product')} {model}" if model else _str(nas, "product"), _str(
            nas, "firmware"
        )
    server = _str(result, "server")
    return (BANNER_PREFIX + server[:40], None) if server else (None, None)
