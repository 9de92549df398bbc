"""The ``pacsaudit`` command: subcommands that build options and call the library; no logic."""

from __future__ import annotations

import functools
import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pacsaudit import __version__
from pacsaudit.engine.runner import EngineOptions
from pacsaudit.engine.stream import DialOptions
from pacsaudit.errors import UsageError
from pacsaudit.measure.keyed_hash import KeyedHasher, KeyFileError, load_or_create_key
from pacsaudit.measure.severity import severity_at_least
from pacsaudit.model import Severity
from pacsaudit.paths import check_creatable
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
from pacsaudit.scan import default_scan_ports
from pacsaudit.targets.readers import InputFormat
from pacsaudit.targets.spec import parse_ports

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    name="pacsaudit",
    help="Find medical-imaging systems that expose patient data, measure the exposure "
    "without keeping PHI, and help fix it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lab_app = typer.Typer(help="The built-in local lab: real DICOM servers with synthetic patients.")
app.add_typer(lab_app, name="lab")


@functools.cache
def err_console() -> Console:
    """The console on standard error, made on first use (a quiet scan never prints)."""
    from rich.console import Console

    # Outside a terminal (CI logs, pipes) rich would wrap tables at 80 columns; logs take 200.
    return Console(stderr=True, width=None if sys.stderr.isatty() else 200)


EXIT_USAGE = 2
EXIT_SEVERITY = 3
EXIT_INTERRUPTED = 130


def _fail(message: str) -> typer.Exit:
    """One line on stderr (never wrapped: logs and scripts grep it) and the usage exit code."""
    err_console().print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


def _seconds(name: str, value: float, *, zero: bool = False) -> float:
    """A duration option: finite, and positive (or zero where ``zero``): ``nan`` would turn
    every deadline into an error and ``inf`` would let a silent peer hold a slot forever."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = "zero or more" if zero else "more than zero"
        raise _fail(f"{name} must be a finite number of seconds, {bound} (got {value})")
    return value


def _log_level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise _fail(f"--log-level {name!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def _check_output(output: Path | None, *, resume: bool, overwrite: bool) -> None:
    """Refuse, before any packet, an output that would lose findings or cannot be written:
    a scan never truncates an earlier scan's results unless told to (``--overwrite``)."""
    if output is None:
        return
    if output.is_dir():
        raise _fail(f"-o {output} is a folder: give a file name")
    if output.exists() and not output.is_file():
        return  # a device or a pipe (/dev/stdout): nothing there to lose
    if not resume and not overwrite and output.is_file() and output.stat().st_size > 0:
        raise _fail(
            f"{output} exists and holds results: choose another -o, add --resume to continue "
            "an interrupted scan, or --overwrite to replace it"
        )
    try:
        check_creatable(output)
    except UsageError as exc:
        raise _fail(str(exc)) from None


def _local_workers(cluster: str) -> int:
    """Workers of ``local:N`` (what ``--dry-run`` can know without connecting), else 1."""
    name, _, count = cluster.partition(":")
    return int(count) if name == "local" and count.isdigit() else 1


def _ports(text: str) -> tuple[int, ...]:
    try:
        return parse_ports(text)
    except UsageError as exc:
        raise _fail(str(exc)) from None


@app.command()
def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Addresses, CIDR blocks, ranges (a.b.c.d-e), host names; - reads stdin."
        ),
    ] = None,
    input_file: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            help="File of targets, one or more per line (- for stdin); with --input-format, "
            "a ZMap or masscan result file of open ports.",
        ),
    ] = None,
    ports: Annotated[
        str | None,
        typer.Option(
            "--ports",
            "-p",
            help="Ports and ranges, e.g. 104,4242,11112 (default: "
            f"{','.join(map(str, default_scan_ports()))}; with result files, the ports they "
            "name).",
            show_default=False,
        ),
    ] = None,
    tls_ports: Annotated[str, typer.Option(help="Ports where DICOM runs over TLS.")] = ",".join(
        map(str, DICOM_TLS_PORTS)
    ),
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            "-x",
            help="File of addresses/CIDRs never to contact, on top of the shipped IANA "
            "special-purpose blocklist (repeatable).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON Lines output (default stdout).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing -o file (default: refuse to lose it).")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Targets probed at once.", min=1)] = 512,
    connect_timeout: Annotated[float, typer.Option(help="Seconds for a TCP handshake.")] = 3.0,
    read_timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 5.0,
    host_timeout: Annotated[
        float, typer.Option(help="Budget in seconds for all of one ip:port's exchanges.")
    ] = 30.0,
    calling_ae: Annotated[
        str, typer.Option(help="Our calling AE title, so operators can identify the scan.")
    ] = DEFAULT_CALLING_AE,
    called_ae: Annotated[
        str,
        typer.Option(help="Called AE title tried when a random one is refused."),
    ] = DEFAULT_CALLED_AE,
    depth: Annotated[
        Depth,
        typer.Option(
            help="discover: association and C-ECHO only; exposure: also count what "
            "C-FIND exposes and test C-MOVE (nothing is ever retrieved)."
        ),
    ] = Depth.EXPOSURE,
    max_records: Annotated[
        int, typer.Option(help="C-FIND matches read per query level before C-CANCEL.", min=1)
    ] = 10_000,
    guess_ae: Annotated[
        bool,
        typer.Option(help="Where AE titles are enforced, try a bounded list of common ones."),
    ] = False,
    ae_list: Annotated[
        Path | None,
        typer.Option(
            help="Replace the shipped AE title list (one per line; 'calling:' "
            "starts the calling titles)."
        ),
    ] = None,
    max_guesses: Annotated[
        int, typer.Option(help="AE titles tried per list and host.", min=0)
    ] = 24,
    guess_interval: Annotated[
        float, typer.Option(help="Seconds between two guesses at the same host.")
    ] = 0.2,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="Secret for the keyed Patient ID hashes (default: created on first "
            "use in ~/.config/pacsaudit, mode 0600)."
        ),
    ] = None,
    max_depth: Annotated[
        int,
        typer.Option(help="FTP/SMB/rsync: folder levels entered below a share's top.", min=0),
    ] = 8,
    max_entries: Annotated[
        int,
        typer.Option(help="FTP/SMB/rsync: names listed per target before stopping.", min=1),
    ] = 10_000,
    max_reads: Annotated[
        int,
        typer.Option(
            help="FTP/SMB: files whose first bytes are read (DICOM magic, headers).", min=0
        ),
    ] = 500,
    max_samples: Annotated[
        int,
        typer.Option(help="FTP/SMB: DICOM headers (up to Pixel Data) counted for PHI.", min=0),
    ] = 25,
    max_shares: Annotated[
        int, typer.Option(help="SMB shares and rsync modules walked per target.", min=1)
    ] = 16,
    fail_on: Annotated[
        Severity | None,
        typer.Option(help="Exit with code 3 when a finding has this severity or worse."),
    ] = None,
    https_ports: Annotated[
        str, typer.Option(help="Ports where the HTTP probe speaks TLS (HTTPS).")
    ] = ",".join(map(str, HTTPS_PORTS)),
    try_default_credentials: Annotated[
        bool,
        typer.Option(
            help="Where an imaging web API asks for a login, try the shipped default "
            "credentials (data/http_credentials.json). Never done without this flag."
        ),
    ] = False,
    max_credentials: Annotated[
        int, typer.Option(help="Default credential pairs tried per web service.", min=0)
    ] = 4,
    max_redirects: Annotated[
        int, typer.Option(help="Same-host HTTP redirects followed per request.", min=0)
    ] = 3,
    max_body: Annotated[
        int,
        typer.Option(help="KiB read of one HTTP JSON answer (a QIDO-RS page) at most.", min=1),
    ] = 8192,
    probe: Annotated[
        str | None,
        typer.Option(
            help="Run this probe on every port instead of choosing by port and "
            "by what the peer says first."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the pseudo-random target order (default: drawn at random, printed, "
            "and saved in the state).",
            min=0,
            max=(1 << 64) - 1,
        ),
    ] = None,
    shard: Annotated[
        str,
        typer.Option(help="Scan slice I of N (I from 0 to N-1, as ZMap counts); same seed in all."),
    ] = "0/1",
    input_format: Annotated[
        InputFormat | None,
        typer.Option(
            help="Read the -i files as open-port results of a SYN scan: zmap (-o, -O csv/json), "
            "masscan (-oL, -oJ), or auto."
        ),
    ] = None,
    skip_malformed: Annotated[
        bool,
        typer.Option(
            help="With --input-format: skip and count malformed result lines (default: a "
            "malformed line stops the scan before it starts, naming file:line)."
        ),
    ] = False,
    rate: Annotated[
        str | None,
        typer.Option(help="New TCP connections per second at most, e.g. 1000/s (also N/m, N/h)."),
    ] = None,
    per_network: Annotated[
        int | None,
        typer.Option(help="Targets probed at once in one /24 (IPv6: /64) at most.", min=1),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(
            help="How operators reach you (URL or e-mail), sent in the HTTP User-Agent; DICOM "
            "has no field for it (the calling AE title identifies the scan)."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(help="Print the number of targets and shards, then exit before any packet."),
    ] = False,
    state: Annotated[
        Path | None,
        typer.Option(help="Scan state (SQLite) for --resume; default: the output's name + .state."),
    ] = None,
    no_state: Annotated[
        bool, typer.Option("--no-state", help="Keep no scan state (the scan cannot be resumed).")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the interrupted scan saved in the state (same command otherwise)."
        ),
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Run the shards as tasks on a Dask cluster (scheduler address, e.g. "
            "tcp://10.0.0.5:8786), or local:N for N worker processes on this machine."
        ),
    ] = None,
    tasks: Annotated[
        int | None,
        typer.Option(help="Shards the cluster runs (default: twice its workers).", min=1),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary table.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Logging level on stderr.")] = "WARNING",
) -> None:
    """Probe targets for DICOM and web services and record how open each one is."""
    from pacsaudit.engine.limits import parse_rate
    from pacsaudit.scan import ScaleOptions, describe_plan, execute, make_plan, summarise
    from pacsaudit.targets.permutation import Shard

    logging.basicConfig(level=_log_level(log_level), stream=sys.stderr)
    connect_timeout = _seconds("--connect-timeout", connect_timeout)
    read_timeout = _seconds("--read-timeout", read_timeout)
    host_timeout = _seconds("--host-timeout", host_timeout)
    guess_interval = _seconds("--guess-interval", guess_interval, zero=True)
    if state is not None and state.is_dir():
        raise _fail(f"--state {state} is a folder: give a file name")
    if state is not None and output is not None and state.resolve() == output.resolve():
        raise _fail("--state and -o name the same file: the state needs a file of its own")
    try:
        hasher = KeyedHasher(load_or_create_key(key_file)) if depth is Depth.EXPOSURE else None
    except KeyFileError as exc:  # unreadable, unwritable or misplaced: said in one line
        raise _fail(str(exc)) from None
    try:
        called_list, calling_list = read_ae_list(ae_list) if ae_list else shipped_lists()
    except UsageError as exc:
        raise _fail(str(exc)) from None
    dicom = DicomOptions(
        calling_ae=calling_ae,
        default_called_ae=called_ae,
        tls_ports=frozenset(_ports(tls_ports)),
        read_timeout=read_timeout,
        dial=DialOptions(connect_timeout=connect_timeout, tls_handshake_timeout=read_timeout),
        depth=depth,
        exposure=ExposureOptions(max_records=max_records),
        hasher=hasher,
        budget=host_timeout,
        guess=AeGuessOptions(
            enabled=guess_ae,
            called=called_list,
            calling=calling_list,
            max_guesses=max_guesses,
            interval=guess_interval,
        ),
    )
    http = HttpOptions(
        https_ports=frozenset(_ports(https_ports)),
        read_timeout=read_timeout,
        dial=dicom.dial,
        enumerate=depth is Depth.EXPOSURE,
        hasher=hasher,
        # ends on its own inside the engine's cut, the sniff of an unclaimed port included
        budget=max(0.5, host_timeout * 0.8),
        max_records=max_records,
        limits=HttpLimits(
            request_timeout=2 * read_timeout,
            max_redirects=max_redirects,
            json_bytes=max_body * 1024,
        ),
        try_default_credentials=try_default_credentials,
        max_credentials=max_credentials,
        contact=contact,
    )
    fileshare = WalkOptions(
        max_depth=max_depth,
        max_entries=max_entries,
        max_reads=max_reads,
        max_samples=max_samples,
        max_shares=max_shares,
        # the walk ends on its own inside the engine's cut, sniffing included
        budget=max(0.5, host_timeout * 0.8),
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
    )
    try:
        state_path = None if no_state or output is None else state or Path(f"{output}.state")
        if (resume or state is not None) and output is None:
            raise UsageError("--resume and --state need a file output: give -o FILE")
        plan = make_plan(
            targets=targets or [],
            input_files=input_file or [],
            exclude_files=exclude or [],
            ports=_ports(ports) if ports is not None else None,
            engine=EngineOptions(
                concurrency=concurrency,
                host_timeout=host_timeout,
                rate=parse_rate(rate) if rate is not None else None,
                per_network=per_network,
            ),
            dicom=dicom,
            output=output,
            forced_probe=probe,
            fileshare=fileshare,
            http=http,
            scale=ScaleOptions(
                seed=seed,
                shard=Shard.parse(shard),
                state=state_path,
                resume=resume,
                input_format=input_format,
                skip_malformed=skip_malformed,
                cluster=cluster,
                tasks=tasks,
            ),
        )
    except (UsageError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if not dry_run:
        _check_output(output, resume=resume, overwrite=overwrite)
    if dry_run:
        cluster_tasks = tasks or (2 * _local_workers(cluster) if cluster else None)
        for line in describe_plan(plan, tasks=cluster_tasks):
            print(line)
        return
    if not quiet:
        for note in plan.notes:
            err_console().print(note, highlight=False, markup=False)
        if plan.excluded:
            err_console().print(f"{plan.excluded} addresses excluded before scanning")
        if not resume and plan.results is None:
            err_console().print(f"seed {plan.seed} (give --seed {plan.seed} to repeat this order)")
    try:
        outcome = execute(plan, None if quiet else err_console())
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # the output or state could not be written (full disk, rights)
        where = output if output is not None else "standard output"
        detail = exc.strerror or str(exc)
        saved = "; the findings already written are complete JSON lines" + (
            ", the state keeps them for --resume" if plan.scale.state is not None else ""
        )
        raise _fail(f"cannot write {where}: {detail}{saved}") from None
    if not quiet:
        summarise(outcome, err_console())
        if output is not None:
            err_console().print(f"findings written to {output}")
    if outcome.interrupted:
        err_console().print("[yellow]interrupted[/]: findings so far are complete JSON lines")
        if plan.scale.state is not None:
            err_console().print("run the same command with --resume to continue")
        raise typer.Exit(EXIT_INTERRUPTED)
    if fail_on is not None and severity_at_least(outcome.worst_severity, fail_on):
        if not quiet:
            err_console().print(f"[red]failing[/]: a finding is {outcome.worst_severity} or worse")
        raise typer.Exit(EXIT_SEVERITY)


@lab_app.command("up")
def lab_up(
    state_dir: Annotated[
        Path | None, typer.Option(help="Where the lab keeps configs, data and pids.")
    ] = None,
    port_base: Annotated[
        int, typer.Option(help="0: the usual DICOM ports; else ports from this number up.")
    ] = 0,
) -> None:
    """Start the lab's servers on loopback, loaded with synthetic patients."""
    from rich.console import Console

    from pacsaudit.lab.manager import LabError, default_state_dir
    from pacsaudit.lab.manager import lab_up as up

    try:
        info = up(state_dir or default_state_dir(), port_base=port_base, console=err_console())
    except LabError as exc:
        raise _fail(str(exc)) from None
    info.print(Console())


@lab_app.command("down")
def lab_down(
    state_dir: Annotated[Path | None, typer.Option(help="The lab's state folder.")] = None,
) -> None:
    """Stop every lab server and remove the lab's temporary files."""
    from pacsaudit.lab.manager import default_state_dir
    from pacsaudit.lab.manager import lab_down as down

    down(state_dir or default_state_dir(), console=err_console())


@lab_app.command("status")
def lab_status(
    state_dir: Annotated[Path | None, typer.Option(help="The lab's state folder.")] = None,
) -> None:
    """Show what the lab runs and where."""
    from rich.console import Console

    from pacsaudit.lab.manager import LabError, default_state_dir, load_info

    try:
        info = load_info(state_dir or default_state_dir())
    except LabError as exc:
        raise _fail(str(exc)) from None
    info.print(Console())


@lab_app.command("demo")
def lab_demo(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where the findings go (JSON Lines).")
    ] = Path("out/demo/findings.jsonl"),
    state_dir: Annotated[Path | None, typer.Option(help="The lab's state folder.")] = None,
    port_base: Annotated[
        int, typer.Option(help="0: the usual DICOM ports; else ports from this number up.")
    ] = 0,
) -> None:
    """Start the lab, scan it, print the findings, stop the lab."""
    from pacsaudit.lab.demo import run_demo
    from pacsaudit.lab.manager import LabError, default_state_dir

    try:
        ok = run_demo(
            state_dir or default_state_dir(), output, port_base=port_base, console=err_console()
        )
    except LabError as exc:
        raise _fail(str(exc)) from None
    if not ok:
        raise typer.Exit(1)


@app.command()
def inspect(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (a mounted share too).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON Lines output (default stdout).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing non-empty -o file.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes.")] = 2,
    fail_on_identifying: Annotated[
        bool, typer.Option(help="Exit 1 when any file still carries identifying values.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary table.")
    ] = False,
) -> None:
    """Count PS3.15 Annex E attributes, private tags and burned-in text risk in DICOM files."""
    from pacsaudit.inspection.command import run_inspect
    from pacsaudit.inspection.pool import check_jobs
    from pacsaudit.inspection.report import warn

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}")
    try:
        workers, note = check_jobs(jobs)
        if note:
            warn(err_console(), note)
        result = run_inspect(
            paths,
            output=output,
            overwrite=overwrite,
            jobs=workers,
            console=None if quiet else err_console(),
            warn=functools.partial(warn, err_console()),
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        err_console().print("[yellow]interrupted[/]: inspection stopped, no records written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if fail_on_identifying and result.summary.files_with_identifying:
        raise typer.Exit(1)


@app.command()
def deid(
    source: Annotated[Path, typer.Argument(metavar="IN", help="File or folder to de-identify.")],
    target: Annotated[Path, typer.Argument(metavar="OUT", help="Folder for the mirror.")],
    retain_long_full_dates: Annotated[bool, typer.Option(help="Keep dates as they are.")] = False,
    retain_long_modified_dates: Annotated[
        bool, typer.Option(help="Shift dates by a keyed per-patient offset.")
    ] = False,
    retain_patient_characteristics: Annotated[
        bool, typer.Option(help="Keep sex, age, size, weight and the like.")
    ] = False,
    retain_device_identity: Annotated[bool, typer.Option(help="Keep device identity.")] = False,
    retain_institution_identity: Annotated[
        bool, typer.Option(help="Keep institution identity.")
    ] = False,
    retain_uids: Annotated[bool, typer.Option(help="Keep the original UIDs.")] = False,
    retain_safe_private: Annotated[
        Path | None,
        typer.Option(help="JSON list of safe private attributes to keep (creator, element)."),
    ] = None,
    clean_descriptors: Annotated[
        bool, typer.Option(help="Keep descriptions, with this patient's identifiers removed.")
    ] = False,
    clean_structured_content: Annotated[
        bool, typer.Option(help="Keep structured content, cleaned.")
    ] = False,
    clean_graphics: Annotated[
        bool, typer.Option(help="Keep graphic annotations, cleaned.")
    ] = False,
    pseudonymise_paths: Annotated[
        bool,
        typer.Option(
            help="Name OUT's folders and files by keyed pseudonyms (.dcm kept) instead of "
            "mirroring IN's names, which are often patients' names."
        ),
    ] = False,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="Secret key for UIDs, pseudonyms and date offsets "
            "(default ~/.config/pacsaudit/deid.key, created 0600)."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write all records as JSON Lines.")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing non-empty -o file (the records of an earlier run of the "
            "same IN and OUT are appended to without it).",
        ),
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes.")] = 2,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary table.")
    ] = False,
) -> None:
    """Apply the PS3.15 Annex E Basic Confidentiality Profile to IN, writing a mirror to OUT."""
    from pacsaudit.deid.command import run_deid_command
    from pacsaudit.inspection.pool import check_jobs
    from pacsaudit.inspection.report import warn
    from pacsaudit.measure.annex_e import Option

    chosen = {
        Option.RETAIN_LONG_FULL_DATES: retain_long_full_dates,
        Option.RETAIN_LONG_MODIFIED_DATES: retain_long_modified_dates,
        Option.RETAIN_PATIENT_CHARACTERISTICS: retain_patient_characteristics,
        Option.RETAIN_DEVICE_IDENTITY: retain_device_identity,
        Option.RETAIN_INSTITUTION_IDENTITY: retain_institution_identity,
        Option.RETAIN_UIDS: retain_uids,
        Option.RETAIN_SAFE_PRIVATE: retain_safe_private is not None,
        Option.CLEAN_DESCRIPTORS: clean_descriptors,
        Option.CLEAN_STRUCTURED_CONTENT: clean_structured_content,
        Option.CLEAN_GRAPHICS: clean_graphics,
    }
    try:
        workers, note = check_jobs(jobs)
        if note:
            warn(err_console(), note)
        result = run_deid_command(
            source,
            target,
            options=frozenset(opt for opt, on in chosen.items() if on),
            key_file=key_file,
            safe_private=retain_safe_private,
            jobs=workers,
            records_output=output,
            console=None if quiet else err_console(),
            overwrite=overwrite,
            warn=functools.partial(warn, err_console()),
            pseudonymise_paths=pseudonymise_paths,
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    if result.summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command("report")
def report_command(
    results: Annotated[
        list[Path],
        typer.Argument(metavar="RESULTS", help="JSON Lines results of one or more scans."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for summary.json, report.html, CSV.")
    ],
    public: Annotated[
        bool,
        typer.Option(help="Anonymised release: no addresses, names, AE titles or hashes."),
    ] = False,
    k: Annotated[
        int, typer.Option("--k", help="With --public: withhold counts of fewer services.")
    ] = 5,
    compare: Annotated[
        list[Path] | None,
        typer.Option(help="Results of an earlier scan: the report shows what changed."),
    ] = None,
) -> None:
    """Turn findings into statistics (summary.json), an HTML report and a CSV."""
    from pacsaudit.report.build import write_report

    if k < 1:
        raise _fail("--k must be at least 1")
    try:
        written = write_report(results, output, public=public, k=k, baseline=compare or [])
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    for warning in written.warnings:
        err_console().print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for path in written.paths:
        print(path)


@app.command("notify")
def notify_command(
    results: Annotated[
        list[Path],
        typer.Argument(metavar="RESULTS", help="JSON Lines results of one or more scans."),
    ],
    owners: Annotated[Path, typer.Option(help="CSV of cidr,owner,contact.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the notices.")],
    min_severity: Annotated[
        Severity, typer.Option(help="Leave out services less severe than this.")
    ] = Severity.MEDIUM,
) -> None:
    """Write one Markdown notice per network owner: exposed services, counts, fixes."""
    from pacsaudit.report.notify import read_owner_map, write_notices
    from pacsaudit.report.records import load_results

    try:
        loaded = load_results(results)
        notices = write_notices(
            loaded, read_owner_map(owners), output, min_severity=str(min_severity)
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    for warning in loaded.warnings:
        err_console().print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    err_console().print(
        f"{len(notices.paths)} notices for {notices.notified_services} services; "
        f"{notices.below_threshold} services below {min_severity} left out",
        highlight=False,
    )
    for path in [*notices.paths, notices.index]:
        print(path)


@app.command("diff")
def diff_command(
    old: Annotated[
        Path, typer.Argument(metavar="OLD", help="Results of the earlier scan (JSON Lines).")
    ],
    new: Annotated[
        Path, typer.Argument(metavar="NEW", help="Results of the later scan (JSON Lines).")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write diff.json and diff.html.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Services newly exposed, fixed and still exposed between two scans, and the totals."""
    from pacsaudit.report.build import write_diff
    from pacsaudit.report.diff import encode_diff, render_text

    try:
        changes, written = write_diff([old], [new], output)
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    for warning in changes.warnings:  # also in the JSON; stdout stays the diff alone
        err_console().print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    sys.stdout.write(encode_diff(changes).decode() if as_json else render_text(changes))
    for path in written.paths:
        err_console().print(f"written to {path}", highlight=False)


@app.command()
def version() -> None:
    """Print pacsaudit's version."""
    print(__version__)


def main() -> None:
    app()
