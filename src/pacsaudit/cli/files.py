"""``pacsaudit inspect`` and ``deid``: identifying data in files, and PS3.15 de-identification."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from pacsaudit.cli.common import EXIT_INTERRUPTED, err_console, fail, say
from pacsaudit.errors import UsageError


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
        raise fail(f"no such file or folder: {', '.join(missing)}")
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
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        say("inspection stopped, no records written", "interrupted", "yellow")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if fail_on_identifying and result.summary.files_with_identifying:
        raise typer.Exit(1)


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
        raise fail(str(exc)) from None
    if result.summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
