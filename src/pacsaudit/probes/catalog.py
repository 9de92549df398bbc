"""Every probe the scan knows, in one list, and the probes a scan builds from it.

Adding a probe is a package under ``probes/`` whose ``__init__`` exports its
:class:`~pacsaudit.probes.spec.ProbeSpec` (ports, the first answers it follows, whether it dials
by itself, where its class lives), one line in :data:`CATALOG`, and its result type in the
model (``docs/probes.md`` walks through it). Nothing is registered by import side effects, and
no probe module is imported before a target needs it: :func:`scan_probes` hands out stand-ins
that build the real probe on its first scan.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from pacsaudit.contract import Probe
from pacsaudit.model import Finding
from pacsaudit.probes import dicom, fileshare, http
from pacsaudit.probes.dicom.options import DicomOptions
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.http.options import HttpOptions
from pacsaudit.probes.spec import FirstAnswer, ProbeSpec
from pacsaudit.targets.spec import Target

CATALOG: tuple[ProbeSpec, ...] = (*dicom.SPECS, *fileshare.SPECS, *http.SPECS)
"""Every probe, in the order ``--probe`` lists them and the dispatcher tries claimants."""
SPECS: dict[str, ProbeSpec] = {spec.key: spec for spec in CATALOG}
PROBE_NAMES = tuple(SPECS)
"""What ``--probe`` accepts."""
PROBE_PORTS: dict[str, tuple[int, ...]] = {spec.key: spec.ports for spec in CATALOG}
"""The ports each probe claims."""
PROBE_PROTOCOLS: dict[str, str] = {spec.key: spec.key for spec in CATALOG}
"""The protocol each probe's findings name."""


class ProbeOptions(msgspec.Struct, frozen=True):
    """What each probe is built from, one field per ``ProbeSpec.options`` name."""

    dicom: DicomOptions = msgspec.field(default_factory=DicomOptions)
    fileshare: WalkOptions = msgspec.field(default_factory=WalkOptions)
    http: HttpOptions = msgspec.field(default_factory=HttpOptions)


def followers(answer: FirstAnswer) -> tuple[str, ...]:
    """The probes tried, in order, after a port gave this first answer."""
    ranked = [(rank, spec.key) for spec in CATALOG for kind, rank in spec.follows if kind is answer]
    return tuple(key for _rank, key in sorted(ranked))


def default_scan_ports() -> tuple[int, ...]:
    """The union of every probe's ports: what ``scan`` probes without ``-p``."""
    return tuple(sorted({port for spec in CATALOG for port in spec.ports}))


def probes_needed(ports: Iterable[int], forced: str | None = None) -> tuple[str, ...]:
    """The probes a scan of these ports may run, in catalogue order.

    ``--probe`` runs one probe everywhere. Otherwise a port claimed by exactly one probe goes
    to it; a port claimed by none or by several is identified by the peer's first answer,
    which may hand it to any probe, so then every probe is needed.
    """
    if forced is not None:
        return (forced,)
    wanted: set[str] = set()
    for port in set(ports):
        claim = [spec.key for spec in CATALOG if port in spec.ports]
        if len(claim) != 1:
            return PROBE_NAMES
        wanted.add(claim[0])
    return tuple(key for key in PROBE_NAMES if key in wanted)


def build_probes(options: object, names: Iterable[str] | None = None) -> dict[str, Probe]:
    """The probes named (default: every probe), configured from ``options`` (a
    :class:`ProbeOptions`, or anything with the same fields, such as a scan plan)."""
    wanted = PROBE_NAMES if names is None else frozenset(names)
    return {spec.key: spec.build(options) for spec in CATALOG if spec.key in wanted}


def scan_probes(
    options: object, ports: Iterable[int], forced: str | None = None
) -> dict[str, Probe]:
    """The probes a scan of these ports may need (see :func:`probes_needed`), each built on its
    first use: a scan that never reaches a probe never imports it (a closed-port sweep, or the
    followers of an unclaimed port that answers DICOM)."""
    probes: dict[str, Probe] = {}
    for key in probes_needed(ports, forced):
        probes[key] = OnFirstUse(SPECS[key], options, probes)
    return probes


class OnFirstUse:
    """Stands for a probe until its first scan, which builds the probe — importing its module
    and the libraries behind it — and puts it in the stand-in's place, so later scans go
    straight to it.

    The import runs on the loop, once per probe and process: it holds the loop for up to a
    tenth of a second (httpx, impacket), during which answers wait; a peer answering within
    that much of a timeout may then be reported as timed out. Importing on a worker thread
    instead would race the loop's own imports (pydicom's circular ones among them)."""

    def __init__(self, spec: ProbeSpec, options: object, probes: dict[str, Probe]) -> None:
        self._spec = spec
        self._options = options
        self._probes = probes

    @property
    def name(self) -> str:
        return self._spec.key

    @property
    def description(self) -> str:
        return f"the {self._spec.key} probe, built on its first use"

    @property
    def default_ports(self) -> tuple[int, ...]:
        return self._spec.ports

    async def scan(self, target: Target) -> Finding:
        key = self._spec.key
        probe = self._probes[key]
        if probe is self:
            probe = self._probes[key] = self._spec.build(self._options)
        return await probe.scan(target)
