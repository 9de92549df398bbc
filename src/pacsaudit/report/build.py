"""``pacsaudit report`` and ``pacsaudit diff`` as library calls: read, compute, write files.

The CLI and ``make demo`` call these; they take paths and return what they wrote, and raise
:class:`~pacsaudit.report.records.ReportInputError` (a usage error) when there is nothing to
report. Files are written whole to a temporary name and renamed, so a reader never sees half a
report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pacsaudit.report.diff import Diff, diff, encode_diff
from pacsaudit.report.html import render_diff, render_report
from pacsaudit.report.records import Loaded, ReportInputError, load_results
from pacsaudit.report.spreadsheet import write_csv
from pacsaudit.report.summary import Summary, anonymise, encode_summary, summarise

DEFAULT_K = 5


@dataclass
class Written:
    """What a command wrote, and what the user must be told about its inputs."""

    paths: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _write(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_report(
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    public: bool = False,
    k: int = DEFAULT_K,
    baseline: Sequence[Path] = (),
) -> Written:
    """summary.json, report.html and (unless public) findings.csv in ``out_dir``.

    ``baseline``: results of an earlier scan; the report then has a section of what changed.
    """
    if public and baseline:
        raise ReportInputError("--compare lists services by address: not in a --public release")
    loaded = load_results(inputs)
    summary: Summary = summarise(loaded, public=public)
    if public:
        summary = anonymise(summary, k)
    changes: Diff | None = None
    if baseline:
        changes = diff(load_results(baseline), loaded)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = Written(warnings=list(loaded.warnings))  # the terminal may name files and lines
    written.paths.append(_write(out_dir / "summary.json", encode_summary(summary)))
    html = render_report(loaded, summary, diff=changes)
    written.paths.append(_write(out_dir / "report.html", html.encode("utf-8")))
    if not public:
        csv_path = out_dir / "findings.csv"
        tmp = csv_path.with_name(".findings.csv.tmp")
        write_csv(tmp, loaded.services)
        os.replace(tmp, csv_path)
        written.paths.append(csv_path)
    return written


def write_diff(
    old: Sequence[Path], new: Sequence[Path], out_dir: Path | None
) -> tuple[Diff, Written]:
    """The diff of two result sets; with ``out_dir``, also diff.json and diff.html."""
    d = diff(load_results(old), load_results(new))
    written = Written(warnings=list(d.warnings))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        written.paths.append(_write(out_dir / "diff.json", encode_diff(d)))
        written.paths.append(_write(out_dir / "diff.html", render_diff(d).encode("utf-8")))
    return d, written


__all__ = ["DEFAULT_K", "Loaded", "Written", "write_diff", "write_report"]
