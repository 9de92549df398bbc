"""``pacsaudit inspect`` and ``deid``: identifying data in files, and PS3.15 de-identification."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import typer

from pacsaudit.cli.common import EXIT_INTERRUPTED, err_console, fail, say, warn_line
from pacsaudit.usage import UsageError

PROFILE = "Profile options (PS3.15 E.3): what the Basic Profile keeps"


def _flag(name: str, help: str, panel: str | None = None) -> Any:
    """An on/off option with one name (no ``--no-…`` twin), off unless given."""
    return typer.Option(name, help=help, rich_help_panel=panel)


# The profile options of PS3.15 E.3, named as measure.annex_e.Option names them (a test checks).
FullDates = Annotated[bool, _flag("--retain-long-full-dates", "Keep dates as they are.", PROFILE)]
ModifiedDates = Annotated[
    bool,
    _flag("--retain-long-modified-dates", "Shift dates by a keyed per-patient offset.", PROFILE),
]
Characteristics = Annotated[
    bool,
    _flag("--retain-patient-characteristics", "Keep sex, age, size, weight and the like.", PROFILE),
]
DeviceIdentity = Annotated[
    bool, _flag("--retain-device-identity", "Keep device identity.", PROFILE)
]
InstitutionIdentity = Annotated[
    bool, _flag("--retain-institution-identity", "Keep institution identity.", PROFILE)
]
Uids = Annotated[bool, _flag("--retain-uids", "Keep the original UIDs.", PROFILE)]
SafePrivate = Annotated[
    Path | None,
    typer.Option(
        "--retain-safe-private",
        metavar="FILE",
        help="JSON list of safe private attributes to keep (creator, element).",
    ),
]
Descriptors = Annotated[
    bool,
    _flag(
        "--clean-descriptors",
        "Keep descriptions, with this patient's identifiers removed.",
        PROFILE,
    ),
]
StructuredContent = Annotated[
    bool, _flag("--clean-structured-content", "Keep structured content, cleaned.", PROFILE)
]
Graphics = Annotated[bool, _flag("--clean-graphics", "Keep graphic annotations, cleaned.", PROFILE)]
PseudonymisePaths = Annotated[
    bool,
    _flag(
        "--pseudonymise-paths",
        "Name OUT's folders and files by keyed pseudonyms (.dcm kept) instead of mirroring "
        "IN's names, which are often patients' names.",
    ),
]
DeidKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        metavar="FILE",
        help="Secret key for UIDs, pseudonyms and date offsets "
        "(default ~/.config/pacsaudit/deid.key, created 0600).",
    ),
]
Records = Annotated[
    Path | None,
    typer.Option("--output", "-o", metavar="FILE", help="Also write all records as JSON Lines."),
]
DeidOverwrite = Annotated[
    bool,
    _flag(
        "--overwrite",
        "Replace an existing non-empty -o file (the records of an earlier run of the same IN "
        "and OUT are appended to without it).",
    ),
]
Jobs = Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Worker processes.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary table.")]
_PROFILE_PREFIXES = ("retain_", "clean_")


def inspect(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (a mounted share too).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="JSON Lines output (default stdout)."),
    ] = None,
    overwrite: Annotated[
        bool, _flag("--overwrite", "Replace an existing non-empty -o file.")
    ] = False,
    jobs: Jobs = 2,
    fail_on_identifying: Annotated[
        bool,
        _flag("--fail-on-identifying", "Exit 1 when any file still carries identifying values."),
    ] = False,
    quiet: Quiet = False,
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
    retain_long_full_dates: FullDates = False,
    retain_long_modified_dates: ModifiedDates = False,
    retain_patient_characteristics: Characteristics = False,
    retain_device_identity: DeviceIdentity = False,
    retain_institution_identity: InstitutionIdentity = False,
    retain_uids: Uids = False,
    retain_safe_private: SafePrivate = None,
    clean_descriptors: Descriptors = False,
    clean_structured_content: StructuredContent = False,
    clean_graphics: Graphics = False,
    pseudonymise_paths: PseudonymisePaths = False,
    key_file: DeidKeyFile = None,
    output: Records = None,
    overwrite: DeidOverwrite = False,
    jobs: Jobs = 2,
    quiet: Quiet = False,
) -> None:
    """Apply the PS3.15 Annex E Basic Confidentiality Profile to IN, writing a mirror to OUT."""
    given = dict(locals())  # the parameters, before anything else is bound
    from pacsaudit.deid.command import run_deid_command
    from pacsaudit.inspection.pool import check_jobs
    from pacsaudit.measure.annex_e import Option

    # each profile option is on when its flag is given (--retain-safe-private: a file named)
    chosen = frozenset(
        Option(name.replace("_", "-"))
        for name, value in given.items()
        if name.startswith(_PROFILE_PREFIXES) and value
    )
    try:
        workers, note = check_jobs(jobs)
        if note:
            warn_line(note)
        result = run_deid_command(
            source,
            target,
            options=chosen,
            key_file=key_file,
            safe_private=retain_safe_private,
            jobs=workers,
            records_output=output,
            console=None if quiet else err_console(),
            overwrite=overwrite,
            warn=warn_line,  # the console made only if a warning comes
            pseudonymise_paths=pseudonymise_paths,
        )
    except UsageError as exc:
        raise fail(str(exc)) from None
    if result.summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
