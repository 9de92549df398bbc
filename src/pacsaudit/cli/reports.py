"""``pacsaudit report``, ``notify`` and ``diff``: what findings mean, for whom, and what changed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pacsaudit.cli.common import err_console, fail, say, warn_line
from pacsaudit.model import Severity
from pacsaudit.usage import UsageError


def report_command(
    results: Annotated[
        list[Path],
        typer.Argument(metavar="RESULTS", help="JSON Lines results of one or more scans."),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="DIR", help="Folder for summary.json, report.html, CSV."
        ),
    ],
    public: Annotated[
        bool,
        typer.Option(
            "--public", help="Anonymised release: no addresses, names, AE titles or hashes."
        ),
    ] = False,
    k: Annotated[
        int,
        typer.Option("--k", metavar="N", help="With --public: withhold counts of fewer services."),
    ] = 5,
    compare: Annotated[
        list[Path] | None,
        typer.Option(
            "--compare",
            metavar="FILE",
            help="Results of an earlier scan: the report shows what changed.",
        ),
    ] = None,
) -> None:
    """Turn findings into statistics (summary.json), an HTML report and a CSV."""
    from pacsaudit.report.build import write_report

    if k < 1:
        raise fail("--k must be at least 1")
    try:
        written = write_report(results, output, public=public, k=k, baseline=compare or [])
    except UsageError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    for warning in written.warnings:
        warn_line(warning)
    for path in written.paths:
        print(path)


def notify_command(
    results: Annotated[
        list[Path],
        typer.Argument(metavar="RESULTS", help="JSON Lines results of one or more scans."),
    ],
    owners: Annotated[
        Path, typer.Option("--owners", metavar="FILE", help="CSV of cidr,owner,contact.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="DIR", help="Folder for the notices.")
    ],
    min_severity: Annotated[
        Severity,
        typer.Option(
            "--min-severity",
            metavar="LEVEL",
            help="Leave out services less severe than this: "
            + ", ".join(s.value for s in Severity)
            + ".",
        ),
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
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    for warning in loaded.warnings:
        warn_line(warning)
    err_console().print(
        f"{len(notices.paths)} notices for {notices.notified_services} services; "
        f"{notices.below_threshold} services below {min_severity} left out",
        highlight=False,
    )
    for path in [*notices.paths, notices.index]:
        print(path)


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
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    for warning in changes.warnings:  # also in the JSON; stdout stays the diff alone
        warn_line(warning)
    sys.stdout.write(encode_diff(changes).decode() if as_json else render_text(changes))
    for path in written.paths:
        say(f"written to {path}")
