"""Which probe runs on which port: the dispatcher, driven by the catalogue's specs.

A port that exactly one probe claims goes to that probe. A port that several or none claim is
*identified* first: the identifying probe (DICOM) opens the conversation (it must speak first,
and its A-ASSOCIATE-RQ draws a telling answer from almost anything: an A-ASSOCIATE-AC, an HTTP
400, an FTP greeting sent before our bytes, a TLS alert), and the peer's first bytes pick the
probe that follows (:attr:`~pacsaudit.probes.spec.ProbeSpec.banner_prefixes` and
:attr:`~pacsaudit.probes.spec.ProbeSpec.follows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec

from pacsaudit.contract import Probe
from pacsaudit.measure.classify import classify_all
from pacsaudit.model import DicomResult, ErrorKind, Finding, Status
from pacsaudit.probes.catalog import CATALOG, SPECS, followers
from pacsaudit.probes.spec import FirstAnswer
from pacsaudit.targets.spec import Target


def default_ports(probes: Iterable[Probe]) -> tuple[int, ...]:
    ports: dict[int, None] = {}
    for probe in probes:
        for port in probe.default_ports:
            ports.setdefault(port, None)
    return tuple(sorted(ports))


_TLS_ALERT_SAMPLE = "\\x15\\x03"
"""A TLS alert record as ``errors.printable_sample`` renders it: the port wants a handshake."""


def sniff_protocol(banner: str | None) -> str | None:
    """Name the protocol behind a non-DICOM answer (``errors.printable_sample`` rendering):
    the key of the plain-text probe whose banner it starts with, ``tls`` for a TLS alert, or
    None."""
    if not banner:
        return None
    for spec in CATALOG:
        if not spec.tls and spec.banner_prefixes and banner.startswith(spec.banner_prefixes):
            return spec.key
    if banner.startswith(_TLS_ALERT_SAMPLE):
        return "tls"
    return None


_SILENT_KINDS = frozenset({ErrorKind.RESET, ErrorKind.EOF})


class Dispatcher(msgspec.Struct, frozen=True):
    """Runs the right probe(s) for each target; one finding per protocol tried."""

    probes: Mapping[str, Probe]
    forced: str | None = None
    tls_followers: Sequence[str] = msgspec.field(
        default_factory=lambda: followers(FirstAnswer.TLS_ALERT)
    )
    """Tried in order where the port answered with a TLS alert."""
    silent_followers: Sequence[str] = msgspec.field(
        default_factory=lambda: followers(FirstAnswer.SILENT_CLOSE)
    )
    """Tried in order where the port closed or reset on our A-ASSOCIATE-RQ without a word —
    what TLS servers (storescp with ``+tls``) and SMB servers do."""

    @property
    def name(self) -> str:
        return self.forced or "auto"

    def claimants(self, port: int) -> list[str]:
        return [name for name, p in self.probes.items() if port in p.default_ports]

    def _first(self, port: int) -> str:
        """The probe a port goes to first: the forced one, its one claimant, else the one that
        identifies unclaimed ports."""
        if self.forced is not None:
            return self.forced
        claim = self.claimants(port)
        if len(claim) == 1:
            return claim[0]
        identifying = next((k for k in self.probes if k in SPECS and SPECS[k].identifies), None)
        return identifying or next(iter(self.probes))

    def protocol_for(self, port: int) -> str:
        return self._first(port)

    def predials(self, port: int) -> bool:
        spec = SPECS.get(self._first(port))
        return spec is None or not spec.dials_itself

    async def scan_all(self, target: Target) -> list[Finding]:
        # One coroutine between the engine and a probe: each await of the probe resumes
        # every frame above it (about eight times per DICOM host).
        if self.forced is not None:
            return classify_all([await self.probes[self.forced].scan(target)])
        claim = self.claimants(target.port)
        if len(claim) == 1:
            return classify_all([await self.probes[claim[0]].scan(target)])
        return classify_all(await self.identify(target))

    async def identify(self, target: Target) -> list[Finding]:
        first = self._first(target.port)
        if first not in SPECS or not SPECS[first].identifies:
            return [await self.probes[first].scan(target)]
        found = await self.probes[first].scan(target)
        if found.status is Status.OPEN_NOT_DICOM:
            banner = found.result.banner if isinstance(found.result, DicomResult) else None
            protocol = sniff_protocol(banner)
            if protocol == "tls":
                return [found, *await self._first_answer(target, self.tls_followers)]
            if protocol is not None and protocol in self.probes:
                return [found, await self.probes[protocol].scan(target)]
        elif (
            found.status is Status.ERROR
            and found.error is not None
            and found.error.kind in _SILENT_KINDS
        ):
            return [found, *await self._first_answer(target, self.silent_followers)]
        return [found]

    async def _first_answer(self, target: Target, names: Sequence[str]) -> list[Finding]:
        """The first follower's finding that is not an error; errors are dropped (the sniff's
        own finding already records that the port would not talk).

        A protocol inside TLS that draws another protocol's answer (DICOM inside TLS answered
        in HTTP) hands the port to the TLS probe of that protocol (``https``), rather than
        stopping at an ``open-not-dicom`` inside TLS."""
        for name in names:
            probe = self.probes.get(name)
            if probe is None:
                continue
            follow = await probe.scan(target)
            if follow.status in (Status.ERROR, Status.CLOSED, Status.FILTERED):
                continue
            banner = follow.result.banner if isinstance(follow.result, DicomResult) else None
            inner = self._tls_probe_for(sniff_protocol(banner))
            if (
                follow.status is Status.OPEN_NOT_DICOM
                and inner is not None
                and inner != name
                and inner in names
                and inner in self.probes
            ):
                return [follow, await self.probes[inner].scan(target)]
            return [follow]
        return []

    @staticmethod
    def _tls_probe_for(plain: str | None) -> str | None:
        """The TLS probe speaking the protocol of the plain probe ``plain`` (``http`` →
        ``https``)."""
        if plain is None or plain not in SPECS:
            return None
        prefixes = set(SPECS[plain].banner_prefixes)
        return next((s.key for s in CATALOG if s.tls and prefixes & set(s.banner_prefixes)), None)
