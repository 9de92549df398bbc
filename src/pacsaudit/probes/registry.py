"""Which probe runs on which port — an explicit registry, no import side effects.

Each probe declares its default ports; ``scan``'s default port list is their union. A port that
exactly one probe claims goes to that probe. A port that several or none claim is *identified*
first: the DICOM probe opens the conversation (it must speak first, and its A-ASSOCIATE-RQ
draws a telling answer from almost anything: an A-ASSOCIATE-AC, an HTTP 400, an FTP greeting
sent before our bytes, a TLS alert), and the peer's first bytes pick the probe that follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from pacsaudit.measure.severity import SEVERITY_OF
from pacsaudit.model import (
    COMPROMISE_PROTOCOL,
    CompromiseResult,
    DicomResult,
    ErrorKind,
    ExposureClass,
    FileShareResult,
    Finding,
    Status,
)
from pacsaudit.probes.base import Probe
from pacsaudit.targets.spec import Target

ProbeFactory = Callable[[], Probe]


def default_ports(probes: Iterable[Probe]) -> tuple[int, ...]:
    ports: dict[int, None] = {}
    for probe in probes:
        for port in probe.default_ports:
            ports.setdefault(port, None)
    return tuple(sorted(ports))


def sniff_protocol(banner: str | None) -> str | None:
    """Name the protocol behind a non-DICOM answer (``errors.printable_sample`` rendering)."""
    if not banner:
        return None
    if banner.startswith("HTTP/"):
        return "http"
    if banner.startswith(("220 ", "220-")):
        return "ftp"
    if banner.startswith("@RSYNCD:"):
        return "rsync"
    if banner.startswith("\\x15\\x03"):  # a TLS alert record: the port wants a handshake
        return "tls"
    return None


def with_compromise_findings(findings: list[Finding]) -> list[Finding]:
    """Signs of compromise seen during a share's walk become a finding of their own, right
    after the share's, so that a miner never hides among exposure counts."""
    extra = [
        msgspec.structs.replace(
            f,
            protocol=COMPROMISE_PROTOCOL,
            status=Status.COMPROMISE,
            result=CompromiseResult(
                share_protocol=f.protocol,
                exposure_class=ExposureClass.COMPROMISED,
                severity=SEVERITY_OF[ExposureClass.COMPROMISED],
                indicators=list(f.result.indicators),
            ),
            error=None,
        )
        for f in findings
        if isinstance(f.result, FileShareResult) and f.result.indicators
    ]
    return findings + extra if extra else findings


_SILENT_KINDS = frozenset({ErrorKind.RESET, ErrorKind.EOF})


@dataclass(frozen=True, slots=True)
class Dispatcher:
    """Runs the right probe(s) for each target; one finding per protocol tried."""

    probes: Mapping[str, Probe]
    forced: str | None = None
    tls_followers: Sequence[str] = ("dicom-tls", "https")
    """Tried in order where the port answered with a TLS alert."""
    silent_followers: Sequence[str] = ("smb", "dicom-tls", "https")
    """Tried in order where the port closed or reset on our A-ASSOCIATE-RQ without a word —
    what TLS servers (storescp with ``+tls``) and SMB servers do. SMB goes first: a TLS server
    drops an SMB negotiation at once, while smbd sits on a ClientHello until the handshake
    times out (twice 5 s for ``dicom-tls`` and ``https``)."""

    @property
    def name(self) -> str:
        return self.forced or "auto"

    def claimants(self, port: int) -> list[str]:
        return [name for name, p in self.probes.items() if port in p.default_ports]

    async def scan_all(self, target: Target) -> list[Finding]:
        return with_compromise_findings(await self._scan_all(target))

    async def _scan_all(self, target: Target) -> list[Finding]:
        if self.forced is not None:
            return [await self.probes[self.forced].scan(target)]
        claim = self.claimants(target.port)
        if len(claim) == 1:
            return [await self.probes[claim[0]].scan(target)]
        return await self.identify(target)

    async def identify(self, target: Target) -> list[Finding]:
        dicom = self.probes.get("dicom")
        if dicom is None:
            first = next(iter(self.probes.values()))
            return [await first.scan(target)]
        found = await dicom.scan(target)
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

        DICOM inside TLS that draws an HTTP answer is HTTPS: the ``https`` follower then runs
        too, rather than stopping at an ``open-not-dicom`` inside TLS."""
        for name in names:
            probe = self.probes.get(name)
            if probe is None:
                continue
            follow = await probe.scan(target)
            if follow.status in (Status.ERROR, Status.CLOSED, Status.FILTERED):
                continue
            banner = follow.result.banner if isinstance(follow.result, DicomResult) else None
            https = self.probes.get("https")
            if (
                follow.status is Status.OPEN_NOT_DICOM
                and sniff_protocol(banner) == "http"
                and https is not None
                and name != "https"
                and "https" in names
            ):
                return [follow, await https.scan(target)]
            return [follow]
        return []
