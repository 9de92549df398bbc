"""The second pass: what one probe learned on a host helps another probe on that host.

Orthanc's REST API answers ``/system`` with the DICOM AE title and port it serves (recorded by
the HTTP probe in :class:`~pacsaudit.model.OrthancInfo`); dcm4chee-arc's ``/aets`` and the AI
gateways' AE lists name titles too (``HttpResult.ae_titles``, no port: any refused DICOM port
of the host). Where the DICOM probe of the same
run was refused on that port as "called AE title not recognised" (``called-ae-enforced``),
the revealed title is tried there once (:meth:`DicomProbe.scan_revealed`): a lock whose key
the host hands out without asking is no lock.

The flow is one-way and explicit, with no cache shared between probes: the main pass runs
to its end; a :class:`Collector` reads its findings as they pass on their way to the output
(it keeps only refusals and hints, at most :data:`MAX_KEPT` of each); :meth:`Collector.plan`
pairs them, at most :data:`MAX_HOSTS` hosts; :func:`second_pass` probes those pairs and
returns findings that are appended to the output like any other. Such a finding repeats the
first pass's attempts and adds its own, so the reports, which keep the latest record per
ip/port/protocol, show the service once, as the second pass left it. Only ports the main
pass already scanned are contacted.

``--resume``: the state is marked complete only after the second pass. A scan killed during
the main pass resumes it, then runs the second pass over the whole output (the committed
part is read back by :meth:`Collector.seed`); one killed during the second pass finds every
shard complete and runs the second pass again, skipping services the output already holds a
second-pass finding for (``called_ae_source`` set). A complete state changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import msgspec

from pacsaudit.measure.classify import classify
from pacsaudit.model import AePolicy, DicomResult, Finding, HttpResult, Status
from pacsaudit.net.limits import TokenBucket
from pacsaudit.net.stream import CONNECTION_LIMITER
from pacsaudit.probes.dicom import DICOM, DICOM_TLS, pdu
from pacsaudit.targets.spec import Target

MAX_HOSTS = 4
"""Hosts a second pass probes at most: a few associations in all, whatever the scan's size."""
MAX_PORTS_PER_HOST = 2
MAX_KEPT = 4096
"""Refusals and hints the collector keeps at most (each a few hundred bytes)."""
_DICOM = frozenset({DICOM.key, DICOM_TLS.key})
_MARKERS = (b'"dicom_aet"', b'"ae_titles"', b'"called-ae-enforced"', b'"called_ae_source"')
"""A committed output line can matter to the second pass only if it holds one of these."""
_decoder = msgspec.json.Decoder(Finding)


class Hint(msgspec.Struct, frozen=True):
    """An AE title a web API of ``ip`` revealed, and for which DICOM port (None: not said)."""

    ip: str
    dicom_port: int | None
    called_ae: str
    source: str


class Followup(msgspec.Struct, frozen=True):
    """One second-pass association: this refused service, this title, from this source."""

    finding: Finding
    called_ae: str
    source: str

    @property
    def target(self) -> Target:
        return Target(self.finding.ip, self.finding.port, self.finding.host)


def hints_of(finding: Finding) -> list[Hint]:
    """The AE titles an HTTP finding revealed, valid ones only: Orthanc's ``/system`` (with its
    DICOM port), then the titles an archive's or gateway's REST API lists (``ae_titles``:
    dcm4chee-arc ``/aets``...; no port said, so any refused DICOM port of the host)."""
    result = finding.result
    if not isinstance(result, HttpResult):
        return []
    hints: list[Hint] = []
    login = (
        " with a default login" if result.credentials and result.credentials.accepted_user else ""
    )
    if result.orthanc is not None and _valid(result.orthanc.dicom_aet):
        assert result.orthanc.dicom_aet is not None
        source = f"orthanc-rest /system on port {finding.port}{login}"
        title = result.orthanc.dicom_aet.strip()
        hints.append(Hint(finding.ip, result.orthanc.dicom_port, title, source))
    for listing in result.ae_titles:
        for title in listing.titles[:MAX_PORTS_PER_HOST]:
            if _valid(title):
                source = f"{listing.product} {listing.path} on port {finding.port}{login}"
                hints.append(Hint(finding.ip, None, title.strip(), source))
    return hints


def _valid(title: str | None) -> bool:
    """Hostile text, printable already: but is it an AE title we can send?"""
    if title is None or not title.strip():
        return False
    try:
        pdu.encode_ae_title(title)
    except ValueError:
        return False
    return True


def _refused(finding: Finding) -> bool:
    result = finding.result
    return (
        finding.protocol in _DICOM
        and finding.status is Status.DICOM
        and isinstance(result, DicomResult)
        and result.ae_policy is AePolicy.CALLED_AE_ENFORCED
        and result.called_ae_source is None
    )


class Collector:
    """The main pass's findings as they pass, reduced to what a second pass could use."""

    def __init__(self) -> None:
        self._hints: dict[str, list[Hint]] = {}
        self._refused: dict[tuple[str, int, str], Finding] = {}
        self._done: set[tuple[str, int, str]] = set()
        self.dropped = 0
        """Refusals or hints not kept because :data:`MAX_KEPT` was reached."""

    def add(self, finding: Finding) -> None:
        key = (finding.ip, finding.port, finding.protocol)
        for hint in hints_of(finding):
            hints = self._hints.get(hint.ip)
            if hints is None and len(self._hints) >= MAX_KEPT:
                self.dropped += 1
            elif hints is None:
                self._hints[hint.ip] = [hint]
            elif hint not in hints and len(hints) < MAX_PORTS_PER_HOST:
                hints.append(hint)
        if finding.protocol not in _DICOM:
            return
        result = finding.result
        if isinstance(result, DicomResult) and result.called_ae_source is not None:
            self._done.add(key)
            self._refused.pop(key, None)
        elif _refused(finding):
            if key in self._refused or len(self._refused) < MAX_KEPT:
                self._refused[key] = finding
            else:
                self.dropped += 1
        else:
            self._refused.pop(key, None)  # the latest record of the service decides

    @staticmethod
    def wants(finding: Finding) -> bool:
        """Whether :meth:`add` would keep anything of ``finding`` (a hint, a refusal, a
        second-pass record). A scan in processes sends the parent only these, besides the
        table's rows: a main pass records each service once, so a record that would only
        drop an earlier refusal of its service never has one to drop."""
        if hints_of(finding):
            return True
        result = finding.result
        return (isinstance(result, DicomResult) and result.called_ae_source is not None) or (
            _refused(finding)
        )

    def seed(self, path: Path) -> None:
        """Read the committed output of an interrupted scan (``--resume``): only lines that
        can hold a refusal, a hint or a second-pass finding are decoded."""
        with path.open("rb") as lines:
            for line in lines:
                if any(marker in line for marker in _MARKERS):
                    try:
                        self.add(_decoder.decode(line))
                    except msgspec.DecodeError:
                        continue  # another schema version's line: not ours to judge

    def plan(self, limit: int = MAX_HOSTS) -> tuple[list[Followup], int]:
        """The second pass's associations (hosts in address order, at most ``limit``), and how
        many hosts with a hint and a refusal were left out by the bound."""
        by_host: dict[str, list[Followup]] = {}
        for (ip, port, protocol), finding in sorted(self._refused.items()):
            if (ip, port, protocol) in self._done:
                continue
            for hint in self._hints.get(ip, ()):
                if hint.dicom_port not in (None, port) or _tried(finding, hint.called_ae):
                    continue
                wanted = by_host.setdefault(ip, [])
                if len(wanted) < MAX_PORTS_PER_HOST:
                    wanted.append(Followup(finding, hint.called_ae, hint.source))
                break
        hosts = list(by_host)
        chosen = [f for ip in hosts[:limit] for f in by_host[ip]]
        return chosen, max(0, len(hosts) - limit)


def _tried(finding: Finding, title: str) -> bool:
    result = finding.result
    assert isinstance(result, DicomResult)
    return any(a.called_ae == title for a in result.attempts)


async def second_pass(
    followups: Iterable[Followup], options: object, rate: float | None = None
) -> list[Finding]:
    """Probe each follow-up (hosts at once, a host's ports one after the other), judged by the
    classify stage like every finding; ``options`` is the plan the probes are built from, and
    ``rate`` (``--rate``) bounds the new connections as in the main pass."""
    from pacsaudit.probes.dicom.probe import DicomProbe  # built only where a pass runs

    if rate:
        CONNECTION_LIMITER.set(TokenBucket(rate))

    probes: dict[str, DicomProbe] = {}
    for spec in (DICOM, DICOM_TLS):
        probe = spec.build(options)
        assert isinstance(probe, DicomProbe)
        probes[spec.key] = probe
    by_host: dict[str, list[Followup]] = {}
    for followup in followups:
        by_host.setdefault(followup.finding.ip, []).append(followup)

    async def host(items: list[Followup]) -> list[Finding]:
        found = []
        for f in items:
            earlier = f.finding.result
            assert isinstance(earlier, DicomResult)
            probe = probes[f.finding.protocol]
            found.append(
                classify(await probe.scan_revealed(f.target, f.called_ae, f.source, earlier))
            )
        return found

    results = await asyncio.gather(*(host(items) for items in by_host.values()))
    return [finding for found in results for finding in found]
