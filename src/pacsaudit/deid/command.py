"""What ``pacsaudit deid`` does once the CLI has parsed its options.

Everything the user typed is checked before the first file is read (``-o``, the key file, the
safe private list), so a mistake costs a clear one-line error rather than a run.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import msgspec

from pacsaudit.deid.keys import default_key_path, load_or_create_key
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.records import DeidRecord, DeidSummary, decode_deid_record
from pacsaudit.deid.report import print_deid
from pacsaudit.deid.run import LOG_FILE, REVIEW_FILE, DeidPlan, DeidResult, run_deid
from pacsaudit.files.output import RecordsOutput, progress_bar
from pacsaudit.files.read import describe_os_error
from pacsaudit.measure.annex_e import Option
from pacsaudit.peertext import visible

if TYPE_CHECKING:
    from rich.console import Console
from pacsaudit.usage import UsageError

_SAFE_PRIVATE_SHAPE = 'a JSON list of {"creator": "...", "element": "0x10"} objects'
_JSON_TYPES = {dict: "object", list: "list", str: "string", int: "number", float: "number"}


def load_safe_private(path: Path | None) -> frozenset[tuple[str, int]]:
    """A JSON list of ``{"creator": "...", "element": "0x10"}``: the private attributes the
    Retain Safe Private option may keep (PS3.15 E.3.10), by creator and element byte.

    Every way the file can be wrong gets a message that says what it must hold: the option
    decides what private data leaves the building, so a guess is never made.
    """
    if path is None:
        return frozenset()
    try:
        entries = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        reason = describe_os_error(exc)
        raise UsageError(f"cannot read the safe private list {path}: {reason}") from None
    except ValueError:  # not UTF-8, or not JSON
        raise UsageError(
            f"the safe private list {path} is not JSON: it must hold {_SAFE_PRIVATE_SHAPE}"
        ) from None
    if not isinstance(entries, list):
        found = _JSON_TYPES.get(type(entries), "value")
        raise UsageError(
            f"the safe private list {path} holds a JSON {found}: it must hold {_SAFE_PRIVATE_SHAPE}"
        )
    return frozenset(_safe_private_entry(e, n, path) for n, e in enumerate(entries, 1))


def _safe_private_entry(entry: object, number: int, path: Path) -> tuple[str, int]:
    """One ``(creator, element byte)``; the element is ``"0x10"``, ``16`` or a full ``0x1010``."""
    where = f"entry {number} of the safe private list {path}"
    shape = '{"creator": "...", "element": "0x10"}'
    if not isinstance(entry, dict):
        raise UsageError(f"{where} is not an object like {shape}")
    creator, element = entry.get("creator"), entry.get("element")
    if not isinstance(creator, str) or not creator.strip():
        raise UsageError(f'{where} has no "creator" string: each entry is like {shape}')
    try:
        value = int(element, 0) if isinstance(element, str) else None
    except ValueError:
        value = None
    if isinstance(element, int) and not isinstance(element, bool):
        value = element
    if value is None or not 0 <= value <= 0xFFFF:
        raise UsageError(
            f'{where} has no valid "element" (such as "0x10"): each entry is like {shape}'
        )
    return creator.strip().lower(), value & 0xFF


def _check_key_location(key_file: Path | None, source: Path, output: Path) -> None:
    """The key must never travel with the data: not in OUT (exported with the images), not in
    IN (creating it there would modify the originals, and the share's users could read it)."""
    if key_file is None:
        return
    try:
        key = key_file.resolve()
        inside = [p for p in (source, output) if key.is_relative_to(p.resolve())]
    except (OSError, RuntimeError) as exc:
        raise UsageError(f"cannot check --key-file {key_file}: {exc.__class__.__name__}") from None
    if inside:
        raise UsageError(
            f"--key-file {key_file} lies inside {inside[0]}: keep the key outside IN and OUT"
        )


def continues_run(source: Path, output: Path, records: Path) -> bool:
    """Whether ``records`` holds an earlier run of this same deid (its last line is a summary
    for the same IN and OUT): resuming then appends to it instead of replacing it."""
    try:
        with records.open("rb") as fp:
            fp.seek(max(0, os.fstat(fp.fileno()).st_size - 65536))
            lines = fp.read().splitlines()
        summary = decode_deid_record(lines[-1]) if lines else None
    except (OSError, msgspec.DecodeError):
        return False
    return isinstance(summary, DeidSummary) and (summary.input, summary.output) == (
        str(source),
        str(output),
    )


def run_deid_command(
    source: Path,
    output: Path,
    *,
    options: frozenset[Option],
    key_file: Path | None,
    safe_private: Path | None,
    jobs: int,
    records_output: Path | None,
    console: Console | None,
    overwrite: bool = False,
    warn: Callable[[str], None] | None = None,
    pseudonymise_paths: bool = False,
) -> DeidResult:
    """Check every input, de-identify, show the summary and warnings, then write the records.

    ``-o`` may not lie inside IN or OUT; an existing non-empty file is replaced only with
    ``overwrite``, except the records of an earlier run of this same deid, which a resumed run
    appends to (nothing of the first part is lost).
    """
    _check_key_location(key_file, source, output)
    target = RecordsOutput.check(
        records_output,
        protected=[source, output],
        overwrite=overwrite,
        may_append=functools.partial(continues_run, source, output),
    )
    plan = DeidPlan(
        source=source,
        output=output,
        options=DeidOptions(options=options, safe_private=load_safe_private(safe_private)),
        key=load_or_create_key(key_file or default_key_path()),
        jobs=jobs,
        pseudonymise_paths=pseudonymise_paths,
    )
    with progress_bar(console, "deid") as (on_total, on_file):
        result = run_deid(
            plan,
            on_total=cast(Callable[[int], None] | None, on_total),
            on_file=cast(Callable[[int], None] | None, on_file),
        )
    if records_output is not None:  # written first: nothing shown below may cost the records
        records: list[DeidRecord] = [*result.files, result.summary]
        try:
            target.write(records)
        except UsageError as exc:
            _show(result, console, warn)
            log = result.metadata_dir / LOG_FILE
            raise UsageError(f"{exc} (every file's record is also in {log})") from None
    _show(result, console, warn)
    return result


def _show(result: DeidResult, console: Console | None, warn: Callable[[str], None] | None) -> None:
    if console is not None:
        from rich.text import Text  # here: a quiet run prints nothing

        print_deid(result.summary, result.files, console)
        if result.summary.review:
            line = Text.assemble(
                (f"{result.summary.review} files may show text in their pixels", "magenta"),
                f": see {visible(str(result.metadata_dir / REVIEW_FILE))}",
            )
            console.print(line, highlight=False)
    if warn is not None:
        for message in result.warnings:
            warn(message)
