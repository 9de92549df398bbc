"""The options of ``pacsaudit scan``, one type alias each, grouped by the help panel they sit in.

A parameter of :func:`pacsaudit.cli.scan.scan` is named like the
:class:`~pacsaudit.config.ScanArguments` field it fills, so :func:`scan_arguments` can collect
them without a hand-kept list of fifty assignments (a test checks the names stay in step).

The help must read at 80 columns: every flag has one name (no ``--no-…`` twin: each is off by
default) and a short metavar, so the help column keeps most of the width.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from msgspec.structs import fields

from pacsaudit.engine.rtt import CEILING
from pacsaudit.model import Severity
from pacsaudit.probes.catalog import default_scan_ports
from pacsaudit.probes.dicom.options import DICOM_TLS_PORTS, Depth
from pacsaudit.probes.http.options import HTTPS_PORTS
from pacsaudit.targets.readers import InputFormat

if TYPE_CHECKING:
    from pacsaudit.config import ScanArguments

TARGETS = "Targets"
OUTPUT = "Output"
TIMING = "Timing and politeness"
DICOM = "DICOM"
WEB = "Web"
SHARES = "File shares (FTP, SMB, rsync)"
SCALE = "Scale: order, shards, resume, cluster"

CLI_ONLY = frozenset({"dry_run", "overwrite", "quiet", "log_level"})
"""Parameters that steer the command, not the scan: they are not ScanArguments fields."""
_TUPLES = frozenset({"targets", "input_files", "exclude_files"})
TLS_PORTS = ",".join(map(str, DICOM_TLS_PORTS))
HTTPS_PORTS_TEXT = ",".join(map(str, HTTPS_PORTS))


def _option(*names: str, panel: str, metavar: str | None = None, **kw: Any) -> Any:
    return typer.Option(*names, metavar=metavar, rich_help_panel=panel, **kw)


def _flag(name: str, *short: str, panel: str, help: str) -> Any:
    """An on/off option with one name (``--resume``), off unless given."""
    return typer.Option(name, *short, help=help, rich_help_panel=panel)


# -- targets ----------------------------------------------------------------------------------
Targets = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[TARGET]...",
        help="Addresses, CIDR blocks, ranges (a.b.c.d-e), host names; - reads stdin.",
        show_default=False,
    ),
]
InputFiles = Annotated[
    list[str] | None,
    _option(
        "--input",
        "-i",
        panel=TARGETS,
        metavar="FILE",
        help="File of targets, one or more per line (- for stdin); with --input-format, "
        "a ZMap, masscan or nmap result file of open ports.",
    ),
]
Ports = Annotated[
    str | None,
    _option(
        "--ports",
        "-p",
        panel=TARGETS,
        metavar="PORTS",
        help="Ports and ranges, e.g. 104,4242,11112 (default: "
        f"{', '.join(map(str, default_scan_ports()))}; with result files, the ports they "
        "name).",
        show_default=False,
    ),
]
ExcludeFiles = Annotated[
    list[str] | None,
    _option(
        "--exclude",
        "-x",
        panel=TARGETS,
        metavar="FILE",
        help="File of addresses/CIDRs never to contact, on top of the shipped IANA "
        "special-purpose blocklist (repeatable).",
    ),
]
Probe = Annotated[
    str | None,
    _option(
        "--probe",
        panel=TARGETS,
        metavar="NAME",
        help="Run this probe on every port instead of choosing by port and by what the peer "
        "says first.",
    ),
]
Format = Annotated[
    InputFormat | None,
    _option(
        "--input-format",
        panel=TARGETS,
        metavar="FORMAT",
        help="Read the -i files as open-port results of a first-stage scan: zmap (-o, -O "
        "csv/json), masscan (-oL, -oJ, -oD, -oG, -oX), nmap (-oG, -oX), or auto.",
    ),
]
SkipMalformed = Annotated[
    bool,
    _flag(
        "--skip-malformed",
        panel=TARGETS,
        help="With --input-format: skip and count malformed result lines (default: a "
        "malformed line stops the scan before it starts, naming file:line).",
    ),
]

# -- output -----------------------------------------------------------------------------------
Output = Annotated[
    Path | None,
    _option(
        "--output", "-o", panel=OUTPUT, metavar="FILE", help="JSON Lines output (default stdout)."
    ),
]
Overwrite = Annotated[
    bool,
    _flag(
        "--overwrite",
        panel=OUTPUT,
        help="Replace an existing -o file (default: refuse to lose it).",
    ),
]
KeyFile = Annotated[
    Path | None,
    _option(
        "--key-file",
        panel=OUTPUT,
        metavar="FILE",
        help="Secret for the keyed Patient ID hashes (default: created on first use in "
        "~/.config/pacsaudit, mode 0600).",
    ),
]
FailOn = Annotated[
    Severity | None,
    _option(
        "--fail-on",
        panel=OUTPUT,
        metavar="LEVEL",
        help="Exit with code 3 when a finding has this severity or worse: "
        + ", ".join(s.value for s in Severity)
        + ".",
    ),
]
DryRun = Annotated[
    bool,
    _flag(
        "--dry-run",
        panel=OUTPUT,
        help="Print the number of targets and shards, then exit before any packet.",
    ),
]
Quiet = Annotated[
    bool, _flag("--quiet", "-q", panel=OUTPUT, help="No progress bar and no summary table.")
]
LogLevel = Annotated[
    str, _option("--log-level", panel=OUTPUT, metavar="LEVEL", help="Logging level on stderr.")
]

# -- timing and politeness --------------------------------------------------------------------
Concurrency = Annotated[
    int | None,
    _option(
        "--concurrency",
        panel=TIMING,
        metavar="N",
        min=1,
        help="Targets in flight at once (default: from the open-file limit and --rate).",
    ),
]
ConnectTimeout = Annotated[
    float | None,
    _option(
        "--connect-timeout",
        panel=TIMING,
        metavar="SEC",
        help="Seconds for a TCP handshake, fixed (default: adaptive, from the round trips "
        f"measured, at most {CEILING:g} s).",
    ),
]
ReadTimeout = Annotated[
    float,
    _option("--read-timeout", panel=TIMING, metavar="SEC", help="Seconds to wait for each answer."),
]
HostTimeout = Annotated[
    float,
    _option(
        "--host-timeout",
        panel=TIMING,
        metavar="SEC",
        help="Budget in seconds for all of one ip:port's exchanges.",
    ),
]
Rate = Annotated[
    str | None,
    _option(
        "--rate",
        panel=TIMING,
        metavar="RATE",
        help="New TCP connections per second at most, e.g. 1000/s (also N/m, N/h).",
    ),
]
PerNetwork = Annotated[
    int | None,
    _option(
        "--per-network",
        panel=TIMING,
        metavar="N",
        min=1,
        help="Targets probed at once in one /24 (IPv6: /64) at most.",
    ),
]
Contact = Annotated[
    str | None,
    _option(
        "--contact",
        panel=TIMING,
        metavar="TEXT",
        help="How operators reach you (URL or e-mail), sent in the HTTP User-Agent; DICOM "
        "has no field for it (the calling AE title identifies the scan).",
    ),
]

# -- DICOM ------------------------------------------------------------------------------------
TlsPorts = Annotated[
    str,
    _option("--tls-ports", panel=DICOM, metavar="PORTS", help="Ports where DICOM runs over TLS."),
]
CallingAe = Annotated[
    str,
    _option(
        "--calling-ae",
        panel=DICOM,
        metavar="AE",
        help="Our calling AE title, so operators can identify the scan.",
    ),
]
CalledAe = Annotated[
    str,
    _option(
        "--called-ae",
        panel=DICOM,
        metavar="AE",
        help="Called AE title tried when a random one is refused.",
    ),
]
DepthOption = Annotated[
    Depth,
    _option(
        "--depth",
        panel=DICOM,
        metavar="DEPTH",
        help="discover: association, C-ECHO and storage acceptance only; exposure: also count "
        "what C-FIND (Q/R, worklist) exposes and test C-MOVE (nothing is ever retrieved or "
        "stored).",
    ),
]
MaxRecords = Annotated[
    int,
    _option(
        "--max-records",
        panel=DICOM,
        metavar="N",
        min=1,
        help="C-FIND matches read per query level before C-CANCEL.",
    ),
]
GuessAe = Annotated[
    bool,
    _flag(
        "--guess-ae",
        panel=DICOM,
        help="Where AE titles are enforced, try a bounded list of common ones.",
    ),
]
AeList = Annotated[
    Path | None,
    _option(
        "--ae-list",
        panel=DICOM,
        metavar="FILE",
        help="Replace the shipped AE title list (one per line; 'calling:' starts the calling "
        "titles).",
    ),
]
MaxGuesses = Annotated[
    int,
    _option(
        "--max-guesses", panel=DICOM, metavar="N", min=0, help="AE titles tried per list and host."
    ),
]
GuessInterval = Annotated[
    float,
    _option(
        "--guess-interval",
        panel=DICOM,
        metavar="SEC",
        help="Seconds between two guesses at the same host.",
    ),
]

SkipStorageCheck = Annotated[
    bool,
    _flag(
        "--skip-storage-check",
        panel=DICOM,
        help="Do not ask which Storage SOP classes the server accepts (by default asked on an "
        "association released unused: nothing is ever stored).",
    ),
]

# -- web --------------------------------------------------------------------------------------
HttpsPorts = Annotated[
    str,
    _option(
        "--https-ports",
        panel=WEB,
        metavar="PORTS",
        help="Ports where the HTTP probe speaks TLS (HTTPS).",
    ),
]
TryDefaultCredentials = Annotated[
    bool,
    _flag(
        "--try-default-credentials",
        panel=WEB,
        help="Where an imaging web API asks for a login, try the shipped default credentials "
        "(data/http_credentials.json). Never done without this flag.",
    ),
]
MaxCredentials = Annotated[
    int,
    _option(
        "--max-credentials",
        panel=WEB,
        metavar="N",
        min=0,
        help="Default credential pairs tried per web service.",
    ),
]
MaxRedirects = Annotated[
    int,
    _option(
        "--max-redirects",
        panel=WEB,
        metavar="N",
        min=0,
        help="Same-host HTTP redirects followed per request.",
    ),
]
MaxBody = Annotated[
    int,
    _option(
        "--max-body",
        panel=WEB,
        metavar="KIB",
        min=1,
        help="KiB read of one HTTP JSON answer (a QIDO-RS page) at most.",
    ),
]

# -- file shares ------------------------------------------------------------------------------
MaxDepth = Annotated[
    int,
    _option(
        "--max-depth",
        panel=SHARES,
        metavar="N",
        min=0,
        help="FTP/SMB/rsync: folder levels entered below a share's top.",
    ),
]
MaxEntries = Annotated[
    int,
    _option(
        "--max-entries",
        panel=SHARES,
        metavar="N",
        min=1,
        help="FTP/SMB/rsync: names listed per target before stopping.",
    ),
]
MaxReads = Annotated[
    int,
    _option(
        "--max-reads",
        panel=SHARES,
        metavar="N",
        min=0,
        help="FTP/SMB: files whose first bytes are read (DICOM magic, headers).",
    ),
]
MaxSamples = Annotated[
    int,
    _option(
        "--max-samples",
        panel=SHARES,
        metavar="N",
        min=0,
        help="FTP/SMB: DICOM headers (up to Pixel Data) counted for PHI.",
    ),
]
MaxShares = Annotated[
    int,
    _option(
        "--max-shares",
        panel=SHARES,
        metavar="N",
        min=1,
        help="SMB shares and rsync modules walked per target.",
    ),
]

# -- scale ------------------------------------------------------------------------------------
Seed = Annotated[
    int | None,
    _option(
        "--seed",
        panel=SCALE,
        metavar="N",
        help="Seed of the pseudo-random target order (default: drawn at random, printed, and "
        "saved in the state).",
    ),
]
Shard = Annotated[
    str,
    _option(
        "--shard",
        panel=SCALE,
        metavar="I/N",
        help="Scan slice I of N (I from 0 to N-1, as ZMap counts); same seed in all.",
    ),
]
State = Annotated[
    Path | None,
    _option(
        "--state",
        panel=SCALE,
        metavar="FILE",
        help="Scan state (SQLite) for --resume; default: the output's name + .state.",
    ),
]
NoState = Annotated[
    bool, _flag("--no-state", panel=SCALE, help="Keep no scan state (the scan cannot be resumed).")
]
Resume = Annotated[
    bool,
    _flag(
        "--resume",
        panel=SCALE,
        help="Continue the interrupted scan saved in the state (same command otherwise).",
    ),
]
Cluster = Annotated[
    str | None,
    _option(
        "--cluster",
        panel=SCALE,
        metavar="ADDRESS",
        help="Run the shards as tasks on a Dask cluster (scheduler address, e.g. "
        "tcp://10.0.0.5:8786), or local:N for N worker processes on this machine.",
    ),
]
Tasks = Annotated[
    int | None,
    _option(
        "--tasks",
        panel=SCALE,
        metavar="N",
        min=1,
        help="Shards the run is cut into (default: one per process; on a cluster, twice its "
        "workers).",
    ),
]
Processes = Annotated[
    int | None,
    _option(
        "--processes",
        panel=SCALE,
        metavar="N",
        min=1,
        help="Scanning processes on this machine (default: one per core, from 2,048 targets each).",
    ),
]


def scan_arguments(params: Mapping[str, Any]) -> ScanArguments:
    """The scan's arguments from the command's parameters as typer converted them: every
    parameter but :data:`CLI_ONLY` names a field; repeatable options become tuples."""
    from pacsaudit.config import ScanArguments

    values: dict[str, Any] = {
        f.name: tuple(params[f.name] or ()) if f.name in _TUPLES else params[f.name]
        for f in fields(ScanArguments)
    }
    return ScanArguments(**values)
