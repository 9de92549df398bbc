"""``pacsaudit scan``: the options, grouped in panels, collected into
:class:`~pacsaudit.config.ScanArguments`; the plan and the run do the rest."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pacsaudit.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_SEVERITY,
    check_output,
    err_console,
    fail,
)
from pacsaudit.cli.common import (
    log_level as parse_log_level,
)
from pacsaudit.engine.rtt import CEILING
from pacsaudit.errors import UsageError
from pacsaudit.model import Severity
from pacsaudit.probes.catalog import default_scan_ports
from pacsaudit.probes.dicom.options import (
    DEFAULT_CALLED_AE,
    DEFAULT_CALLING_AE,
    DICOM_TLS_PORTS,
    Depth,
)
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
CONCURRENCY_HELP = "Targets in flight at once (default: from the open-file limit and --rate)."
CONNECT_TIMEOUT_HELP = (
    "Seconds for a TCP handshake, fixed (default: adaptive, from the round trips measured, at "
    f"most {CEILING:g} s)."
)


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
            rich_help_panel=TARGETS,
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
            rich_help_panel=TARGETS,
        ),
    ] = None,
    tls_ports: Annotated[
        str, typer.Option(help="Ports where DICOM runs over TLS.", rich_help_panel=DICOM)
    ] = ",".join(map(str, DICOM_TLS_PORTS)),
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            "-x",
            help="File of addresses/CIDRs never to contact, on top of the shipped IANA "
            "special-purpose blocklist (repeatable).",
            rich_help_panel=TARGETS,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="JSON Lines output (default stdout).", rich_help_panel=OUTPUT
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace an existing -o file (default: refuse to lose it).", rich_help_panel=OUTPUT
        ),
    ] = False,
    concurrency: Annotated[
        int | None, typer.Option(help=CONCURRENCY_HELP, min=1, rich_help_panel=TIMING)
    ] = None,
    connect_timeout: Annotated[
        float | None, typer.Option(help=CONNECT_TIMEOUT_HELP, rich_help_panel=TIMING)
    ] = None,
    read_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each answer.", rich_help_panel=TIMING)
    ] = 5.0,
    host_timeout: Annotated[
        float,
        typer.Option(
            help="Budget in seconds for all of one ip:port's exchanges.", rich_help_panel=TIMING
        ),
    ] = 30.0,
    calling_ae: Annotated[
        str,
        typer.Option(
            help="Our calling AE title, so operators can identify the scan.", rich_help_panel=DICOM
        ),
    ] = DEFAULT_CALLING_AE,
    called_ae: Annotated[
        str,
        typer.Option(
            help="Called AE title tried when a random one is refused.", rich_help_panel=DICOM
        ),
    ] = DEFAULT_CALLED_AE,
    depth: Annotated[
        Depth,
        typer.Option(
            help="discover: association, C-ECHO and storage acceptance only; exposure: "
            "also count what C-FIND (Q/R, worklist) exposes and test C-MOVE (nothing is "
            "ever retrieved or stored).",
            rich_help_panel=DICOM,
        ),
    ] = Depth.EXPOSURE,
    max_records: Annotated[
        int,
        typer.Option(
            help="C-FIND matches read per query level before C-CANCEL.",
            min=1,
            rich_help_panel=DICOM,
        ),
    ] = 10_000,
    guess_ae: Annotated[
        bool,
        typer.Option(
            help="Where AE titles are enforced, try a bounded list of common ones.",
            rich_help_panel=DICOM,
        ),
    ] = False,
    ae_list: Annotated[
        Path | None,
        typer.Option(
            help="Replace the shipped AE title list (one per line; 'calling:' "
            "starts the calling titles).",
            rich_help_panel=DICOM,
        ),
    ] = None,
    max_guesses: Annotated[
        int, typer.Option(help="AE titles tried per list and host.", min=0, rich_help_panel=DICOM)
    ] = 24,
    guess_interval: Annotated[
        float,
        typer.Option(help="Seconds between two guesses at the same host.", rich_help_panel=DICOM),
    ] = 0.2,
    check_storage: Annotated[
        bool,
        typer.Option(
            help="Once let in, ask which Storage SOP classes the server accepts, on an "
            "association released unused (nothing is ever stored).",
            rich_help_panel=DICOM,
        ),
    ] = True,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="Secret for the keyed Patient ID hashes (default: created on first "
            "use in ~/.config/pacsaudit, mode 0600).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    max_depth: Annotated[
        int,
        typer.Option(
            help="FTP/SMB/rsync: folder levels entered below a share's top.",
            min=0,
            rich_help_panel=SHARES,
        ),
    ] = 8,
    max_entries: Annotated[
        int,
        typer.Option(
            help="FTP/SMB/rsync: names listed per target before stopping.",
            min=1,
            rich_help_panel=SHARES,
        ),
    ] = 10_000,
    max_reads: Annotated[
        int,
        typer.Option(
            help="FTP/SMB: files whose first bytes are read (DICOM magic, headers).",
            min=0,
            rich_help_panel=SHARES,
        ),
    ] = 500,
    max_samples: Annotated[
        int,
        typer.Option(
            help="FTP/SMB: DICOM headers (up to Pixel Data) counted for PHI.",
            min=0,
            rich_help_panel=SHARES,
        ),
    ] = 25,
    max_shares: Annotated[
        int,
        typer.Option(
            help="SMB shares and rsync modules walked per target.", min=1, rich_help_panel=SHARES
        ),
    ] = 16,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            help="Exit with code 3 when a finding has this severity or worse.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    https_ports: Annotated[
        str,
        typer.Option(help="Ports where the HTTP probe speaks TLS (HTTPS).", rich_help_panel=WEB),
    ] = ",".join(map(str, HTTPS_PORTS)),
    try_default_credentials: Annotated[
        bool,
        typer.Option(
            help="Where an imaging web API asks for a login, try the shipped default "
            "credentials (data/http_credentials.json). Never done without this flag.",
            rich_help_panel=WEB,
        ),
    ] = False,
    max_credentials: Annotated[
        int,
        typer.Option(
            help="Default credential pairs tried per web service.", min=0, rich_help_panel=WEB
        ),
    ] = 4,
    max_redirects: Annotated[
        int,
        typer.Option(
            help="Same-host HTTP redirects followed per request.", min=0, rich_help_panel=WEB
        ),
    ] = 3,
    max_body: Annotated[
        int,
        typer.Option(
            help="KiB read of one HTTP JSON answer (a QIDO-RS page) at most.",
            min=1,
            rich_help_panel=WEB,
        ),
    ] = 8192,
    probe: Annotated[
        str | None,
        typer.Option(
            help="Run this probe on every port instead of choosing by port and "
            "by what the peer says first.",
            rich_help_panel=TARGETS,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the pseudo-random target order (default: drawn at random, printed, "
            "and saved in the state).",
            min=0,
            max=(1 << 64) - 1,
            rich_help_panel=SCALE,
        ),
    ] = None,
    shard: Annotated[
        str,
        typer.Option(
            help="Scan slice I of N (I from 0 to N-1, as ZMap counts); same seed in all.",
            rich_help_panel=SCALE,
        ),
    ] = "0/1",
    input_format: Annotated[
        InputFormat | None,
        typer.Option(
            help="Read the -i files as open-port results of a SYN scan: zmap (-o, -O csv/json), "
            "masscan (-oL, -oJ), or auto.",
            rich_help_panel=TARGETS,
        ),
    ] = None,
    skip_malformed: Annotated[
        bool,
        typer.Option(
            help="With --input-format: skip and count malformed result lines (default: a "
            "malformed line stops the scan before it starts, naming file:line).",
            rich_help_panel=TARGETS,
        ),
    ] = False,
    rate: Annotated[
        str | None,
        typer.Option(
            help="New TCP connections per second at most, e.g. 1000/s (also N/m, N/h).",
            rich_help_panel=TIMING,
        ),
    ] = None,
    per_network: Annotated[
        int | None,
        typer.Option(
            help="Targets probed at once in one /24 (IPv6: /64) at most.",
            min=1,
            rich_help_panel=TIMING,
        ),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(
            help="How operators reach you (URL or e-mail), sent in the HTTP User-Agent; DICOM "
            "has no field for it (the calling AE title identifies the scan).",
            rich_help_panel=TIMING,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="Print the number of targets and shards, then exit before any packet.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    state: Annotated[
        Path | None,
        typer.Option(
            help="Scan state (SQLite) for --resume; default: the output's name + .state.",
            rich_help_panel=SCALE,
        ),
    ] = None,
    no_state: Annotated[
        bool,
        typer.Option(
            "--no-state",
            help="Keep no scan state (the scan cannot be resumed).",
            rich_help_panel=SCALE,
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the interrupted scan saved in the state (same command otherwise).",
            rich_help_panel=SCALE,
        ),
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Run the shards as tasks on a Dask cluster (scheduler address, e.g. "
            "tcp://10.0.0.5:8786), or local:N for N worker processes on this machine.",
            rich_help_panel=SCALE,
        ),
    ] = None,
    tasks: Annotated[
        int | None,
        typer.Option(
            help="Shards the cluster runs (default: twice its workers).",
            min=1,
            rich_help_panel=SCALE,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress bar and no summary table.", rich_help_panel=OUTPUT
        ),
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="Logging level on stderr.", rich_help_panel=OUTPUT)
    ] = "WARNING",
) -> None:
    """Probe targets for DICOM and web services and record how open each one is."""
    from pacsaudit.config import ScanArguments

    logging.basicConfig(level=parse_log_level(log_level), stream=sys.stderr)
    arguments = ScanArguments(
        targets=tuple(targets or ()),
        input_files=tuple(input_file or ()),
        exclude_files=tuple(exclude or ()),
        ports=ports,
        output=output,
        concurrency=concurrency,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        host_timeout=host_timeout,
        rate=rate,
        per_network=per_network,
        tls_ports=tls_ports,
        calling_ae=calling_ae,
        called_ae=called_ae,
        depth=depth,
        max_records=max_records,
        guess_ae=guess_ae,
        ae_list=ae_list,
        max_guesses=max_guesses,
        guess_interval=guess_interval,
        check_storage=check_storage,
        key_file=key_file,
        max_depth=max_depth,
        max_entries=max_entries,
        max_reads=max_reads,
        max_samples=max_samples,
        max_shares=max_shares,
        https_ports=https_ports,
        try_default_credentials=try_default_credentials,
        max_credentials=max_credentials,
        max_redirects=max_redirects,
        max_body_kib=max_body,
        contact=contact,
        probe=probe,
        seed=seed,
        shard=shard,
        input_format=input_format,
        skip_malformed=skip_malformed,
        state=state,
        no_state=no_state,
        resume=resume,
        cluster=cluster,
        tasks=tasks,
        fail_on=fail_on,
    )
    run_scan_command(arguments, dry_run=dry_run, overwrite=overwrite, quiet=quiet)


def run_scan_command(
    arguments: ScanArguments, *, dry_run: bool, overwrite: bool, quiet: bool
) -> None:
    """Plan (every check before the first packet), then run, then summarise and exit with
    what ``--fail-on`` found."""
    from pacsaudit.measure.severity import severity_at_least
    from pacsaudit.plan import describe_plan
    from pacsaudit.run import execute
    from pacsaudit.terminal import ProgressBar, summarise

    try:
        plan = arguments.plan()
    except UsageError as exc:
        raise fail(str(exc)) from None
    if dry_run:
        cluster_tasks = arguments.tasks or (
            2 * arguments.local_workers() if arguments.cluster else None
        )
        for line in describe_plan(plan, tasks=cluster_tasks):
            print(line)
        return
    check_output(arguments.output, resume=arguments.resume, overwrite=overwrite)
    console = None if quiet else err_console()
    if console is not None:
        for note in plan.notes:
            console.print(note, highlight=False, markup=False)
        if plan.excluded:
            console.print(f"{plan.excluded} addresses excluded before scanning")
        if not arguments.resume and plan.results is None:
            console.print(f"seed {plan.seed} (give --seed {plan.seed} to repeat this order)")
    try:
        outcome = execute(plan, ProgressBar(console) if console is not None else None)
    except UsageError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # the output or state could not be written (full disk, rights)
        where = arguments.output if arguments.output is not None else "standard output"
        detail = exc.strerror or str(exc)
        saved = "; the findings already written are complete JSON lines" + (
            ", the state keeps them for --resume" if plan.scale.state is not None else ""
        )
        raise fail(f"cannot write {where}: {detail}{saved}") from None
    if console is not None:
        summarise(outcome, console)
        if arguments.output is not None:
            console.print(f"findings written to {arguments.output}")
    if outcome.interrupted:
        err_console().print("[yellow]interrupted[/]: findings so far are complete JSON lines")
        if plan.scale.state is not None:
            err_console().print("run the same command with --resume to continue")
        raise typer.Exit(EXIT_INTERRUPTED)
    fail_on = arguments.fail_on
    if fail_on is not None and severity_at_least(outcome.worst_severity, fail_on):
        if console is not None:
            console.print(f"[red]failing[/]: a finding is {outcome.worst_severity} or worse")
        raise typer.Exit(EXIT_SEVERITY)
