"""``pacsaudit scan``: the options (declared in :mod:`pacsaudit.cli.scan_options`) collected
into :class:`~pacsaudit.config.ScanArguments`; the plan and the run do the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pacsaudit.cli import scan_options as o
from pacsaudit.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_SEVERITY,
    check_output,
    err_console,
    fail,
    log_to_stderr,
    say,
)
from pacsaudit.cli.common import log_level as parse_log_level
from pacsaudit.probes.dicom.options import (
    DEFAULT_CALLED_AE,
    DEFAULT_CALLING_AE,
    Depth,
)
from pacsaudit.usage import UsageError

if TYPE_CHECKING:
    from pacsaudit.config import ScanArguments
    from pacsaudit.plan import ScanPlan


def scan(
    targets: o.Targets = None,
    input_files: o.InputFiles = None,
    ports: o.Ports = None,
    exclude_files: o.ExcludeFiles = None,
    probe: o.Probe = None,
    input_format: o.Format = None,
    skip_malformed: o.SkipMalformed = False,
    output: o.Output = None,
    overwrite: o.Overwrite = False,
    key_file: o.KeyFile = None,
    fail_on: o.FailOn = None,
    dry_run: o.DryRun = False,
    quiet: o.Quiet = False,
    log_level: o.LogLevel = "WARNING",
    concurrency: o.Concurrency = None,
    connect_timeout: o.ConnectTimeout = None,
    read_timeout: o.ReadTimeout = 5.0,
    host_timeout: o.HostTimeout = 30.0,
    rate: o.Rate = None,
    per_network: o.PerNetwork = None,
    contact: o.Contact = None,
    tls_ports: o.TlsPorts = o.TLS_PORTS,
    calling_ae: o.CallingAe = DEFAULT_CALLING_AE,
    called_ae: o.CalledAe = DEFAULT_CALLED_AE,
    depth: o.DepthOption = Depth.EXPOSURE,
    max_records: o.MaxRecords = 10_000,
    guess_ae: o.GuessAe = False,
    ae_list: o.AeList = None,
    max_guesses: o.MaxGuesses = 24,
    guess_interval: o.GuessInterval = 0.2,
    skip_storage_check: o.SkipStorageCheck = False,
    https_ports: o.HttpsPorts = o.HTTPS_PORTS_TEXT,
    try_default_credentials: o.TryDefaultCredentials = False,
    max_credentials: o.MaxCredentials = 4,
    max_redirects: o.MaxRedirects = 3,
    max_body_kib: o.MaxBody = 8192,
    max_depth: o.MaxDepth = 8,
    max_entries: o.MaxEntries = 10_000,
    max_reads: o.MaxReads = 500,
    max_samples: o.MaxSamples = 25,
    max_shares: o.MaxShares = 16,
    seed: o.Seed = None,
    shard: o.Shard = "0/1",
    state: o.State = None,
    no_state: o.NoState = False,
    resume: o.Resume = False,
    cluster: o.Cluster = None,
    tasks: o.Tasks = None,
    processes: o.Processes = None,
) -> None:
    """Probe targets for DICOM and web services and record how open each one is."""
    # Every parameter reaches the scan through locals() (typer has converted them: paths are
    # Paths), each named like its ScanArguments field, with its default: a test checks both.
    arguments = o.scan_arguments(locals())
    log_to_stderr(parse_log_level(log_level))
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
        from pacsaudit.run import processes_for

        processes = None if arguments.cluster else processes_for(plan)
        tasks = _dry_run_tasks(arguments, plan)
        for line in describe_plan(plan, tasks=tasks, processes=processes):
            print(line)
        return
    check_output(arguments.output, resume=arguments.resume, overwrite=overwrite)
    console = None if quiet else err_console()
    if console is not None:
        for note in plan.notes:
            say(note)
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
            say(f"findings written to {arguments.output}")
    if outcome.interrupted:
        say("findings so far are complete JSON lines", "interrupted", "yellow")
        if plan.scale.state is not None:
            err_console().print("run the same command with --resume to continue")
        raise typer.Exit(EXIT_INTERRUPTED)
    fail_on = arguments.fail_on
    if fail_on is not None and severity_at_least(outcome.worst_severity, fail_on):
        if console is not None:
            say(f"a finding is {outcome.worst_severity} or worse", "failing", "red")
        raise typer.Exit(EXIT_SEVERITY)


def _dry_run_tasks(arguments: ScanArguments, plan: ScanPlan) -> int | None:
    """The tasks a run would cut its shard into where that is asked for: ``--tasks``, or
    twice a local cluster's workers (None: the shard itself; a run in processes here cuts it
    into one task per process, which the dry run's process line says)."""
    if arguments.tasks is not None:
        return arguments.tasks
    if arguments.cluster:
        return 2 * arguments.local_workers()
    return None
