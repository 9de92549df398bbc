"""A scan's options as the user gave them, frozen, and the probe and engine options they mean.

The command line only collects values into :class:`ScanArguments`; every rule that derives
one option from another (a probe's own budget inside the engine's cut, the TLS handshake
timeout from the read timeout, the keyed hasher only where PHI may be counted) lives here,
once, so the CLI, the lab's demo and the tests build the same plan from the same values.
Validation raises :class:`~pacsaudit.errors.UsageError` with one line naming the option.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec

from pacsaudit.engine.options import EngineOptions
from pacsaudit.engine.rtt import CEILING
from pacsaudit.measure.keyed_hash import KeyedHasher, KeyFileError, load_or_create_key
from pacsaudit.model import Severity
from pacsaudit.net.limits import parse_rate
from pacsaudit.net.stream import DialOptions
from pacsaudit.plan import ScaleOptions, ScanPlan, make_plan
from pacsaudit.probes.dicom.ae_guess import AeGuessOptions, read_ae_list, shipped_lists
from pacsaudit.probes.dicom.options import (
    DEFAULT_CALLED_AE,
    DEFAULT_CALLING_AE,
    DICOM_TLS_PORTS,
    Depth,
    DicomOptions,
    ExposureOptions,
)
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.http.options import HTTPS_PORTS, HttpOptions
from pacsaudit.probes.http.options import Limits as HttpLimits
from pacsaudit.targets.permutation import Shard
from pacsaudit.targets.readers import InputFormat
from pacsaudit.targets.spec import parse_ports
from pacsaudit.usage import UsageError

PROBE_SHARE_OF_HOST_BUDGET = 0.8
"""The web and share probes stop themselves within this share of ``--host-timeout``, so they
end on their own (with partial counts) inside the engine's cut, sniffing included."""
MIN_PROBE_BUDGET = 0.5
DEFAULT_CONCURRENCY = 512
"""Stands in for ``--concurrency`` when the window is sized from the open-file limit and rate
(:func:`pacsaudit.engine.rtt.in_flight_window`)."""
DEFAULT_CONNECT_TIMEOUT = CEILING
"""The adaptive connect timeout's upper bound, and the probes' own dials' timeout, when
``--connect-timeout`` is not given."""


def seconds(name: str, value: float, *, zero: bool = False) -> float:
    """A duration option: finite, and positive (or zero where ``zero``): ``nan`` would turn
    every deadline into an error and ``inf`` would let a silent peer hold a slot forever."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = "zero or more" if zero else "more than zero"
        raise UsageError(f"{name} must be a finite number of seconds, {bound} (got {value})")
    return value


def ports(text: str) -> tuple[int, ...]:
    return parse_ports(text)


class ScanArguments(msgspec.Struct, frozen=True):
    """Every ``pacsaudit scan`` option, with the CLI's defaults."""

    targets: tuple[str, ...] = ()
    input_files: tuple[str, ...] = ()
    exclude_files: tuple[str, ...] = ()
    ports: str | None = None
    output: Path | None = None
    # timing and politeness
    concurrency: int | None = None
    """None: a window sized from the open-file limit and ``--rate``."""
    connect_timeout: float | None = None
    """None: adaptive, from the round trips measured, at most :data:`DEFAULT_CONNECT_TIMEOUT`;
    given, a fixed timeout."""
    read_timeout: float = 5.0
    host_timeout: float = 30.0
    rate: str | None = None
    per_network: int | None = None
    # DICOM
    tls_ports: str = ",".join(map(str, DICOM_TLS_PORTS))
    calling_ae: str = DEFAULT_CALLING_AE
    called_ae: str = DEFAULT_CALLED_AE
    depth: Depth = Depth.EXPOSURE
    max_records: int = 10_000
    guess_ae: bool = False
    ae_list: Path | None = None
    max_guesses: int = 24
    guess_interval: float = 0.2
    skip_storage_check: bool = False
    key_file: Path | None = None
    # file shares
    max_depth: int = 8
    max_entries: int = 10_000
    max_reads: int = 500
    max_samples: int = 25
    max_shares: int = 16
    # web
    https_ports: str = ",".join(map(str, HTTPS_PORTS))
    try_default_credentials: bool = False
    max_credentials: int = 4
    max_redirects: int = 3
    max_body_kib: int = 8192
    contact: str | None = None
    # scale
    probe: str | None = None
    seed: int | None = None
    shard: str = "0/1"
    input_format: InputFormat | None = None
    skip_malformed: bool = False
    state: Path | None = None
    no_state: bool = False
    resume: bool = False
    cluster: str | None = None
    tasks: int | None = None
    processes: int | None = None
    fail_on: Severity | None = None

    def validate(self) -> None:
        """The checks that need no file and no network, each one line naming the option."""
        seconds("--connect-timeout", self.dial_timeout)
        seconds("--read-timeout", self.read_timeout)
        seconds("--host-timeout", self.host_timeout)
        seconds("--guess-interval", self.guess_interval, zero=True)
        if self.seed is not None and not 0 <= self.seed < 1 << 64:
            raise UsageError(f"--seed must be from 0 to 2^64-1 (got {self.seed})")
        if self.state is not None and self.state.is_dir():
            raise UsageError(f"--state {self.state} is a folder: give a file name")
        if (
            self.state is not None
            and self.output is not None
            and self.state.resolve() == self.output.resolve()
        ):
            raise UsageError("--state and -o name the same file: the state needs a file of its own")
        if (self.resume or self.state is not None) and self.output is None:
            raise UsageError("--resume and --state need a file output: give -o FILE")

    @property
    def dial_timeout(self) -> float:
        """Seconds a dial waits for the handshake: ``--connect-timeout``, else the adaptive
        timeout's upper bound."""
        if self.connect_timeout is None:
            return DEFAULT_CONNECT_TIMEOUT
        return self.connect_timeout

    @property
    def probe_budget(self) -> float:
        return max(MIN_PROBE_BUDGET, self.host_timeout * PROBE_SHARE_OF_HOST_BUDGET)

    @property
    def state_path(self) -> Path | None:
        """The scan state: ``--state``, else beside the output; none without a file output."""
        if self.no_state or self.output is None:
            return None
        return self.state or Path(f"{self.output}.state")

    def hasher(self) -> KeyedHasher | None:
        """The keyed hasher for Patient IDs, where the depth may count them (reads or creates
        the key file: a usage error when it cannot)."""
        if self.depth is not Depth.EXPOSURE:
            return None
        try:
            return KeyedHasher(load_or_create_key(self.key_file))
        except KeyFileError as exc:  # unreadable, unwritable or misplaced: said in one line
            raise UsageError(str(exc)) from None

    def dicom(self, hasher: KeyedHasher | None) -> DicomOptions:
        called, calling = read_ae_list(self.ae_list) if self.ae_list else shipped_lists()
        return DicomOptions(
            calling_ae=self.calling_ae,
            default_called_ae=self.called_ae,
            tls_ports=frozenset(ports(self.tls_ports)),
            read_timeout=self.read_timeout,
            dial=self.dial(),
            depth=self.depth,
            exposure=ExposureOptions(max_records=self.max_records),
            hasher=hasher,
            budget=self.host_timeout,
            guess=AeGuessOptions(
                enabled=self.guess_ae,
                called=called,
                calling=calling,
                max_guesses=self.max_guesses,
                interval=self.guess_interval,
            ),
            check_storage=not self.skip_storage_check,
        )

    def dial(self) -> DialOptions:
        return DialOptions(
            connect_timeout=self.dial_timeout, tls_handshake_timeout=self.read_timeout
        )

    def http(self, hasher: KeyedHasher | None) -> HttpOptions:
        return HttpOptions(
            https_ports=frozenset(ports(self.https_ports)),
            read_timeout=self.read_timeout,
            dial=self.dial(),
            enumerate=self.depth is Depth.EXPOSURE,
            hasher=hasher,
            budget=self.probe_budget,
            max_records=self.max_records,
            limits=HttpLimits(
                request_timeout=2 * self.read_timeout,
                max_redirects=self.max_redirects,
                json_bytes=self.max_body_kib * 1024,
            ),
            try_default_credentials=self.try_default_credentials,
            max_credentials=self.max_credentials,
            contact=self.contact,
            walk=self.fileshare(),
        )

    def fileshare(self) -> WalkOptions:
        return WalkOptions(
            max_depth=self.max_depth,
            max_entries=self.max_entries,
            max_reads=self.max_reads,
            max_samples=self.max_samples,
            max_shares=self.max_shares,
            budget=self.probe_budget,
            read_timeout=self.read_timeout,
            connect_timeout=self.dial_timeout,
        )

    def engine(self) -> EngineOptions:
        return EngineOptions(
            concurrency=self.concurrency or DEFAULT_CONCURRENCY,
            auto_window=self.concurrency is None,
            adaptive_timeout=self.connect_timeout is None,
            host_timeout=self.host_timeout,
            rate=parse_rate(self.rate) if self.rate is not None else None,
            per_network=self.per_network,
        )

    def scale(self) -> ScaleOptions:
        return ScaleOptions(
            seed=self.seed,
            shard=Shard.parse(self.shard),
            state=self.state_path,
            resume=self.resume,
            input_format=self.input_format,
            skip_malformed=self.skip_malformed,
            cluster=self.cluster,
            tasks=self.tasks,
            processes=self.processes,
        )

    def plan(self) -> ScanPlan:
        """Everything checked and derived, before any packet (:func:`pacsaudit.plan.make_plan`)."""
        self.validate()
        hasher = self.hasher()
        try:
            return make_plan(
                targets=self.targets,
                input_files=self.input_files,
                exclude_files=self.exclude_files,
                ports=ports(self.ports) if self.ports is not None else None,
                engine=self.engine(),
                dicom=self.dicom(hasher),
                output=self.output,
                forced_probe=self.probe,
                fileshare=self.fileshare(),
                http=self.http(hasher),
                scale=self.scale(),
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def local_workers(self) -> int:
        """Workers of ``local:N`` (what ``--dry-run`` can know without connecting), else 1."""
        name, _, count = (self.cluster or "").partition(":")
        return int(count) if name == "local" and count.isdigit() else 1
