"""Reading JSON Lines results for the reporters: tolerant inside, strict on the envelope.

The reporters must keep working while the result model grows (new protocols, new fields such as
``product``, ``cves`` and ``flags``), so a line is not decoded into :class:`pacsaudit.model.Finding`
(whose tagged result union rejects a protocol it does not know yet). The envelope — address,
port, protocol, status, ``schema_version`` — is checked strictly, because without it a record
cannot be counted; everything inside ``result`` is read field by field with type checks, and a
field that is missing or has an unexpected type is treated as absent
(:mod:`pacsaudit.report.service`, which makes each line a :class:`Service`).

A bad line (truncated by an interrupted scan, not JSON, another schema version, no envelope) is
skipped, counted and named as ``file:line`` with a reason; the valid lines are still reported.
Reasons are our own words: never the line's content, which may hold anything.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec

from pacsaudit.intel.correlate import orthanc_cves, orthanc_dicom_port
from pacsaudit.intel.fleets import find_fleets
from pacsaudit.model import (
    READABLE_SCHEMA_VERSIONS,
    Finding,
    decode_finding,
)
from pacsaudit.report.service import FLEET, Count, Service, is_ip, json_object, read_service
from pacsaudit.usage import UsageError

MAX_LINE_BYTES = 64 * 1024 * 1024
"""A longer line is not a finding we wrote; refusing it bounds memory on hostile input."""


class ReportInputError(UsageError):
    """The inputs cannot be reported at all (missing file, nothing valid in them)."""


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
        """Hash key id → services whose Patient ID hashes (Q/R or worklist) were made with it."""
        return Counter(key for s in self.services for key in s.keyed_hashes())

    @property
    def first_seen(self) -> str | None:
        stamps = [s.timestamp for s in self.services if s.timestamp]
        return min(stamps) if stamps else None

    @property
    def last_seen(self) -> str | None:
        stamps = [s.timestamp for s in self.services if s.timestamp]
        return max(stamps) if stamps else None


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
    if not is_ip(obj["ip"]):
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
        service = read_service(source, obj)
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
        result = json_object(obj, "result")
        if json_object(result, "exposure") and result.get("kind") == "dicom":
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
