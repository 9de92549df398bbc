"""Reading JSON Lines results for the reporters: tolerant inside, strict on the envelope.

The reporters must keep working while the result model grows (new protocols, new fields such as
``product``, ``cves`` and ``flags``), so a line is not decoded into :class:`pacsaudit.model.Finding`
(whose tagged result union rejects a protocol it does not know yet). The envelope — address,
port, protocol, status, ``schema_version`` — is checked strictly, because without it a record
cannot be counted; everything inside ``result`` is read field by field with type checks, and a
field that is missing or has an unexpected type is treated as absent.

A bad line (truncated by an interrupted scan, not JSON, another schema version, no envelope) is
skipped, counted and named as ``file:line`` with a reason; the valid lines are still reported.
Reasons are our own words: never the line's content, which may hold anything.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from pacsaudit import model
from pacsaudit.errors import UsageError
from pacsaudit.intel.correlate import orthanc_cves, orthanc_dicom_port
from pacsaudit.intel.fleets import find_fleets
from pacsaudit.model import (
    COMPROMISE_PROTOCOL,
    READABLE_SCHEMA_VERSIONS,
    Finding,
    Severity,
    decode_finding,
)
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
FLEET = "fleet"
"""Flag the reports add to services of a fleet (``pacsaudit.intel.fleets``)."""
MAX_LINE_BYTES = 64 * 1024 * 1024
"""A longer line is not a finding we wrote; refusing it bounds memory on hostile input."""


class ReportInputError(UsageError):
    """The inputs cannot be reported at all (missing file, nothing valid in them)."""


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
    anonymous: bool = False
    """A file share let an anonymous or guest session in."""
    error_kind: str | None = None
    indicators: tuple[str, ...] = ()
    """Categories of the signs of compromise (``ransom-note``, ``miner-config``…) a
    ``compromise`` finding holds."""
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
    def phi_exposed(self) -> dict[str, int]:
        return {k: n for k, n in self.phi_attributes.items() if n > 0}


@dataclass(frozen=True, slots=True)
class BadLine:
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class Loaded:
    """Every valid record of the inputs, deduplicated, and what was wrong with the rest."""

    services: list[Service]
    files: list[str]
    records: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    duplicates: int = 0
    empty_inputs: list[str] = field(default_factory=list)
    schema_versions: Counter[int] = field(default_factory=Counter)
    fleet_services: int = 0
    warnings: list[str] = field(default_factory=list)
    orthanc_ports: dict[tuple[str, int], dict[tuple[str, int, str], str]] = field(
        default_factory=dict
    )
    """(ip, DICOM port) → {HTTP service key: Orthanc version}, as each REST ``/system`` on
    the host names its DICOM port. More than one REST naming one port (containers mapping
    the same internal port) is ambiguous, and then nothing is tied."""

    @property
    def hash_keys(self) -> Counter[str]:
        """Hash key id → services whose Patient ID hashes were made with it."""
        return Counter(s.hash_key_id for s in self.services if s.hash_key_id and s.patient_hashes)

    @property
    def first_seen(self) -> str | None:
        stamps = [s.timestamp for s in self.services if s.timestamp]
        return min(stamps) if stamps else None

    @property
    def last_seen(self) -> str | None:
        stamps = [s.timestamp for s in self.services if s.timestamp]
        return max(stamps) if stamps else None


def ip_order(ip: str) -> tuple[int, int]:
    """Sort key putting addresses in numeric order, IPv4 first."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return (9, 0)
    return (address.version, int(address))


# -- typed access to untyped JSON: wrong types read as absent --------------------------------


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


def _obj(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def _counts(d: Mapping[str, Any], key: str) -> dict[str, int]:
    return {
        visible(str(k)): v
        for k, v in _obj(d, key).items()
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


def _count(d: Mapping[str, Any], key: str) -> Count:
    return Count(_int(d, key), _bool(d, f"{key}_lower_bound"))


def _tls(result: Mapping[str, Any]) -> TlsFacts | None:
    tls = result.get("tls")
    if not isinstance(tls, dict):
        return None
    cert = _obj(tls, "certificate")
    requested = tls.get("client_certificate_requested")
    return TlsFacts(
        version=_str(tls, "version"),
        self_signed=_bool(cert, "self_signed"),
        expired=_bool(cert, "expired"),
        client_certificate_requested=requested if isinstance(requested, bool) else None,
    )


def _service(source: str, env: Mapping[str, Any]) -> Service:
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
    result = _obj(env, "result")
    exposure = _obj(result, "exposure")
    retrieval = _obj(result, "retrieval")
    storage = _obj(result, "storage")
    worklist = _obj(result, "worklist")
    hashes = exposure.get("patient_id_hashes")
    product, version = _product(result)
    flags = _names(result.get("flags"), ("flag", "name", "id", "kind"))
    if (_int(result, "samples_in_named_paths") or 0) > 0:
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
        cves=_names(result.get("cves"), ("id", "cve")),
        flags=flags,
        tls=_tls(result),
        **_measures(result, exposure),
        anonymous=_bool(result, "anonymous"),
        distinct_patients=_int(exposure, "distinct_patients") or 0,
        patient_hashes=tuple(h for h in hashes if isinstance(h, str))
        if isinstance(hashes, list)
        else (),
        hash_key_id=_str(exposure, "hash_key_id"),
        get_accepted=_bool(retrieval, "get_accepted"),
        move_check=_str(retrieval, "move_check"),
        storage_classes=_names(storage.get("accepted"), ()),
        workflow_services=_names(storage.get("services_accepted"), ()),
        worklist_steps=_count(worklist, "scheduled_steps"),
        error_kind=_str(_obj(env, "error"), "kind"),
        indicators=_names(result.get("indicators"), ("category", "indicator")),
    )


def _measures(result: Mapping[str, Any], exposure: Mapping[str, Any]) -> dict[str, Any]:
    """Patients, studies, images, bytes and PHI counts, wherever the result keeps them.

    DICOM and HTTP results carry an ``exposure`` object; a file share's result counts DICOM
    files and their bytes at its top level (images), with patients and studies only where a
    DICOMDIR was read.
    """
    if exposure or _str(result, "kind") != "fileshare":
        return {
            "patients": _count(exposure, "patients"),
            "studies": _count(exposure, "studies"),
            "images": _count(exposure, "images"),
            "bytes": _count(exposure, "bytes"),
            "phi_attributes": _counts(exposure, "phi_attributes"),
        }
    cut = _bool(result, "lower_bound")
    dicomdir = _obj(result, "dicomdir")
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


def _is_ip(text: str) -> bool:
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
    orthanc = _obj(result, "orthanc")
    if orthanc:
        return "Orthanc", _str(orthanc, "version")
    apps = result.get("apps")
    if isinstance(apps, list):
        named = [a for a in apps if isinstance(a, dict) and _str(a, "product")]
        if named:
            return _str(named[0], "product"), None
    server = _str(result, "server")
    return (BANNER_PREFIX + server[:40], None) if server else (None, None)


def _envelope_problem(obj: object) -> str | None:
    """Why a decoded line is not a finding we can count, or ``None``."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    version = obj.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return "no schema_version: not a pacsaudit finding"
    if version not in READABLE_SCHEMA_VERSIONS:
        return f"schema_version {version}; this pacsaudit reads versions {_READABLE}"
    for key in ("ip", "protocol", "status"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            return f"no {key}"
    port = obj.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        return "no valid port"
    if not _is_ip(obj["ip"]):
        return "ip is not an IP address"
    if obj.get("result") is not None and not isinstance(obj["result"], dict):
        return "result is not an object"
    stamp = obj.get("timestamp")
    if stamp is not None and not (isinstance(stamp, str) and _TIMESTAMP.fullmatch(stamp)):
        # the summary prints the first and last times: free text must not ride along
        return "timestamp is not an ISO 8601 UTC time"
    return None


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})")


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, ended by a newline), reading in bounded chunks. A UTF-8 byte
    order mark (Windows editors add one) is not part of the first record."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            yield number, line, line.endswith(b"\n")


_BOM = b"\xef\xbb\xbf"


def _texty(line: bytes) -> bool:
    """UTF-8 text without control bytes other than tab/CR/LF: what a JSON line is made of."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\r\n" for c in text)


def _read_file(
    path: Path,
    loaded: Loaded,
    latest: dict[tuple[str, int, str], Service],
    dicom: dict[tuple[str, int, str], Finding],
) -> None:
    name = str(path)
    valid = 0
    for number, raw, complete in _lines(path):
        line = raw.strip()
        if not line:
            continue
        source = f"{name}:{number}"
        if len(line) > MAX_LINE_BYTES:
            loaded.bad_lines.append(BadLine(source, "line too long"))
            continue
        try:
            obj = msgspec.json.decode(line)
        except msgspec.DecodeError:
            reason = (
                "truncated record at end of file (was the scan interrupted?)"
                if not complete and _texty(line)
                else "not valid JSON"
                if _texty(line)
                else "binary data, not JSON Lines"
            )
            loaded.bad_lines.append(BadLine(source, reason))
            continue
        if isinstance(obj, dict) and isinstance(obj.get("schema_version"), int):
            loaded.schema_versions[obj["schema_version"]] += 1
        problem = _envelope_problem(obj)
        if problem is not None:
            loaded.bad_lines.append(BadLine(source, problem))
            continue
        service = _service(source, obj)
        named = orthanc_dicom_port(obj)
        if named is not None:
            loaded.orthanc_ports.setdefault(named[:2], {})[service.key] = named[2]
        valid += 1
        previous = latest.get(service.key)
        if previous is not None:
            loaded.duplicates += 1
            if previous.timestamp > service.timestamp:
                continue
        latest[service.key] = service
        if _obj(_obj(obj, "result"), "exposure") and obj["result"].get("kind") == "dicom":
            try:  # the fleet check reads the typed model; a line it cannot read is no fleet
                dicom[service.key] = decode_finding(line)
            except msgspec.MsgspecError:
                dicom.pop(service.key, None)
        else:
            dicom.pop(service.key, None)
    loaded.records += valid
    if valid == 0:
        loaded.empty_inputs.append(name)


def load_results(paths: Sequence[Path]) -> Loaded:
    """Read every input; raise :class:`ReportInputError` only when nothing can be reported."""
    if not paths:
        raise ReportInputError("no results given")
    folders = [str(p) for p in paths if p.is_dir()]
    if folders:
        raise ReportInputError(
            f"{', '.join(folders)}: a folder, not a results file (give the .jsonl files in it)"
        )
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ReportInputError(f"no such results file: {', '.join(missing)}")
    loaded = Loaded(services=[], files=[str(p) for p in paths])
    latest: dict[tuple[str, int, str], Service] = {}
    dicom: dict[tuple[str, int, str], Finding] = {}
    for path in paths:
        try:
            _read_file(path, loaded, latest, dicom)
        except OSError as exc:
            raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    fleets = find_fleets(dicom.values())
    for key, service in latest.items():
        if (service.ip, service.port) in fleets and FLEET not in service.flags:
            latest[key] = replace(service, flags=(*service.flags, FLEET))
    _tie_orthanc(loaded, latest)
    loaded.services = list(latest.values())
    loaded.fleet_services = len(fleets)
    _warn(loaded)
    if not loaded.services:
        detail = (
            f"{plural(len(loaded.bad_lines), 'bad line')} ({describe_bad_lines(loaded.bad_lines)})"
            if loaded.bad_lines
            else "the inputs are empty"
        )
        raise ReportInputError(f"no valid findings in {', '.join(loaded.files)}: {detail}")
    return loaded


def _tie_orthanc(loaded: Loaded, latest: dict[tuple[str, int, str], Service]) -> None:
    """Give a DICOM service the Orthanc version its host's REST names, and mark the pair as
    one store (``archive``) — only where exactly one REST service names that DICOM port and
    the DICOM service was found: two Orthancs behind one address must not be merged."""
    dicom_ports = {(s.ip, s.port) for s in latest.values() if s.protocol in _DICOM_PROTOCOLS}
    for (ip, port), namers in loaded.orthanc_ports.items():
        if len(namers) != 1 or (ip, port) not in dicom_ports:
            continue
        ((http_key, version),) = namers.items()
        archive = _archive(ip, port)
        web = latest.get(http_key)
        if web is not None:
            latest[http_key] = replace(web, archive=archive)
        for protocol in _DICOM_PROTOCOLS:
            found = latest.get((ip, port, protocol))
            if found is not None:
                latest[found.key] = replace(
                    found,
                    product="Orthanc",
                    version=version,
                    cves=orthanc_cves(version, found.cves),
                    archive=archive,
                )


_DICOM_PROTOCOLS = ("dicom", "dicom-tls")
"""``dicom-tls``: the TLS follower's findings from schema version 2 on (version 1 named them
``dicom``)."""
_READABLE = " and ".join(map(str, READABLE_SCHEMA_VERSIONS))


def _archive(ip: str, dicom_port: int) -> str:
    return f"[{ip}]:{dicom_port}" if ":" in ip else f"{ip}:{dicom_port}"


def exposure_sum(services: Iterable[Service], name: str) -> Count:
    """One measure (``patients``, ``studies``, ``images``, ``bytes``) summed over services,
    each store counted once: where two services show the same archive (Orthanc's REST and its
    DICOM port), the larger of their counts stands for both, so a server reachable over two
    protocols does not double the headline totals. ``None`` when no service measured it."""
    total: int | None = None
    lower = False
    per_archive: dict[str, int] = {}
    for s in services:
        count: Count = getattr(s, name)
        lower |= count.lower_bound
        if count.value is None:
            continue
        if s.archive is None:
            total = (total or 0) + count.value
        else:
            per_archive[s.archive] = max(per_archive.get(s.archive, 0), count.value)
    if per_archive:
        total = (total or 0) + sum(per_archive.values())
    return Count(total, lower)


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def describe_bad_lines(bad: Sequence[BadLine], limit: int = 5) -> str:
    """The first few bad lines by name, and how many more: a message stays one line."""
    shown = "; ".join(str(b) for b in bad[:limit])
    return shown + (f"; and {len(bad) - limit} more" if len(bad) > limit else "")


def _warn(loaded: Loaded) -> None:
    """Say what a reader of the report must know about its inputs."""
    w = loaded.warnings
    if loaded.bad_lines:
        w.append(
            f"{plural(len(loaded.bad_lines), 'bad line')} skipped, the valid records are reported: "
            + describe_bad_lines(loaded.bad_lines)
        )
    for name in loaded.empty_inputs:
        w.append(f"{name} holds no valid findings")
    versions = sorted(loaded.schema_versions)
    if len(versions) > 1:
        w.append(
            "the inputs mix schema versions "
            + ", ".join(f"{v} ({plural(loaded.schema_versions[v], 'line')})" for v in versions)
            + f"; versions {_READABLE} are read"
        )
    if loaded.duplicates:
        w.append(
            f"{plural(loaded.duplicates, 'record')} repeat an ip/port/protocol already read "
            "(several scans or overlapping shards?): the latest record of each is reported"
        )
    if loaded.fleet_services:
        w.append(
            f"{plural(loaded.fleet_services, 'service')} answer with the same identifiers and "
            "the same counts at several addresses (one honeypot image deployed many times, or "
            f"one server behind many addresses): flagged {FLEET} and counted apart"
        )
    keys = loaded.hash_keys
    if len(keys) > 1:
        w.append(
            f"the inputs come from different scans: Patient ID hashes were made with "
            f"{len(keys)} different keys, which are not comparable; distinct patients are "
            "counted per key and not merged"
        )
