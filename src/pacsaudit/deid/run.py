"""``pacsaudit deid IN OUT``: de-identify a tree of files into a mirror of it.

Guarantees, and how they are kept:

- Originals are never modified: inputs are opened read-only and OUT may not overlap IN.
- Nothing half-written is left in OUT: each file is written to a temporary name beside its
  target and renamed into place only when complete; a failed write removes its temporary file,
  and temporary files of an interrupted run are removed when the next run starts.
- An interrupted run resumes, and trusts only what it wrote: ``OUT/.pacsaudit/run.json`` marks
  OUT as a deid output (options, key fingerprint), and ``journal.jsonl`` vouches for each
  output by size and SHA-256 (see :mod:`pacsaudit.deid.journal`). A file in OUT the journal
  does not vouch for is de-identified again, never counted done; an OUT that is not empty and
  not marked (a folder of originals, IN itself) is refused. A run with other options or another
  key is refused rather than mixed into the same tree.
- Bad input is reported per file in ``OUT/.pacsaudit/deid-log.jsonl`` and the run goes on; a
  folder that cannot be listed is reported too (``unlistable``), never skipped in silence. A
  bad OUT (a file, not creatable) is one clear :class:`UsageError`.
- Files whose pixels may show text are listed in ``OUT/.pacsaudit/review.jsonl``; their headers
  are clean, their pixels untouched.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, MediaStorageDirectoryStorage

from pacsaudit import __version__
from pacsaudit.deid.encode import encode_dataset, encode_file_meta
from pacsaudit.deid.journal import (
    JOURNAL_FILE,
    JournalEntry,
    encode_entry,
    open_journal,
    read_journal,
    still_written,
)
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.deid.profile import Deidentifier, DeidOptions, iter_review_reasons
from pacsaudit.deid.records import DeidFile, DeidSummary
from pacsaudit.deid.tail import copy_range, pixel_tail
from pacsaudit.files.output import encode_line, unlisted_warnings
from pacsaudit.files.pool import ordered_map
from pacsaudit.files.read import (
    METADATA_DIR,
    Candidate,
    FileError,
    Kind,
    ReadFailure,
    classify,
    describe_os_error,
    open_input,
    quiet_pydicom,
    read_dicom,
    read_header,
    walk,
)
from pacsaudit.measure.annex_e import load_table
from pacsaudit.usage import UsageError

TMP_SUFFIX = ".pacsaudit-tmp"
RUN_FILE = "run.json"
LOG_FILE = "deid-log.jsonl"
REVIEW_FILE = "review.jsonl"
_PREAMBLE = b"\0" * 128


@dataclass(frozen=True)
class DeidPlan:
    source: Path
    output: Path
    options: DeidOptions
    key: bytes
    jobs: int = 1
    pseudonymise_paths: bool = False
    """Name OUT's folders and files by keyed pseudonyms instead of mirroring IN's names."""


@dataclass
class DeidResult:
    summary: DeidSummary
    files: list[DeidFile] = field(default_factory=list)

    @property
    def metadata_dir(self) -> Path:
        return Path(self.summary.output) / METADATA_DIR

    @property
    def warnings(self) -> list[str]:
        """What the user must hear even with ``--quiet``: parts of IN never seen."""
        return unlisted_warnings(
            [(f.path, f.message or "") for f in self.files if f.error is FileError.UNLISTABLE],
            "de-identified",
        )


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What a worker sends back for one file."""

    record: DeidFile
    size: int = 0
    entry: JournalEntry | None = None
    """For a file written now: its journal line, appended by the main process."""


_state: dict[str, object] = {}
_made: set[Path] = set()
"""Output folders this process already created (one mkdir per folder, not per file)."""


def _init_worker(key: bytes, options: DeidOptions, output: str) -> None:
    """Per process: the de-identifier for this plan. The main process builds it before the
    pool starts, so forked workers inherit it (the table and its look-ups built once)."""
    quiet_pydicom()
    _made.clear()  # a run in this process before may have had its folders removed since
    if _state.get("plan") != (key, options):
        _state["deid"] = Deidentifier(Pseudonyms(key), options)
        _state["plan"] = (key, options)
    _state["output"] = Path(output)


def _target(output: Path, candidate: Candidate) -> Path:
    return output / candidate.relative


@dataclass(frozen=True, slots=True)
class _Tail:
    """The pixel data of the input, copied as bytes after the rewritten header."""

    fd: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class _Written:
    """What the journal records of one output (see :class:`JournalEntry`)."""

    size: int
    sha256: str
    header_size: int | None = None
    tail_offset: int = 0


def _write(data: bytes, target: Path, tail: _Tail | None = None) -> _Written:
    """Write beside the target, then rename: the target is whole or absent, never partial.

    Returns, for the resume journal, the size of what was written and the SHA-256 of the
    bytes written from memory (the whole file, or the header before a copied tail: the tail
    is the input's own bytes, which a resumed run compares with the input instead).
    """
    _make_folder(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:  # a short write (a signal, a nearly full disk) writes the rest
                view = view[os.write(fd, view) :]
            if tail is not None:
                copy_range(tail.fd, fd, tail.offset, tail.size - tail.offset)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    digest = hashlib.sha256(data).hexdigest()
    if tail is None:
        return _Written(len(data), digest)
    return _Written(len(data) + tail.size - tail.offset, digest, len(data), tail.offset)


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents, once per process: one mkdir per new folder, none for
    a folder this process made or found (a mirror of a NAS has a folder per series)."""
    if folder in _made:
        return
    try:
        _mkdir(folder)
    except FileNotFoundError:
        _make_folder(folder.parent)
        _mkdir(folder)
    if len(_made) < 1 << 14:
        _made.add(folder)


def _mkdir(folder: Path) -> None:
    """mkdir that accepts a folder another worker made a moment before."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not folder.is_dir():
            raise


def _encode(ds: Dataset, kind: Kind) -> bytes:
    """The file's bytes, in its own transfer syntax and format (Part 10 or bare data set).

    :mod:`pacsaudit.deid.encode` writes what pydicom's ``write_file_meta_info`` and
    ``write_dataset`` write, copying the elements the profile kept as their original bytes
    (``dcmwrite`` also deep-copies and re-validates the file meta on every call). Deflated
    files, and any whose encoding pydicom could not tell, still go through ``dcmwrite``.
    """
    meta = getattr(ds, "file_meta", None)
    implicit_vr, little_endian = ds.original_encoding
    syntax = getattr(meta, "TransferSyntaxUID", None)
    if syntax == DeflatedExplicitVRLittleEndian or implicit_vr is None or little_endian is None:
        if kind is Kind.PART10:
            ds.preamble = _PREAMBLE
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        return buffer.getvalue()
    body = encode_dataset(ds, implicit_vr, little_endian)
    if kind is Kind.PART10 and meta is not None:
        # a preamble may carry another format's header (TIFF): it is replaced by zeros
        return b"".join((_PREAMBLE, b"DICM", encode_file_meta(meta), body))
    return body


def deid_file(candidate: Candidate, vouched: JournalEntry | None = None) -> FileOutcome:
    """De-identify one file into the output tree; never raises for a bad file.

    ``vouched`` is the journal's entry for this file when an earlier run of the same plan
    wrote it from the same input: if the output is still exactly what was written, it is done.
    Any other file at the target (an original copied into OUT, an edited output) is replaced.
    """
    relative = candidate.display
    if candidate.problem is not None:  # a folder the walk could not list
        return _skipped(relative, candidate.problem)
    output = _state["output"]
    assert isinstance(output, Path)
    target = _target(output, candidate)
    if vouched is not None and still_written(target, vouched, candidate.path):
        return FileOutcome(DeidFile(relative, "already-done", review=list(vouched.review)))
    try:
        record, written = _deid_one(candidate, target)
    except Exception as exc:  # one bad file must not end the run
        return _skipped(relative, classify(exc))
    entry = JournalEntry(
        relative,
        candidate.size,
        candidate.mtime_ns,
        written.size,
        written.sha256,
        review=record.review,
        header_size=written.header_size,
        tail_offset=written.tail_offset,
    )
    return FileOutcome(record, written.size, entry)


def _skipped(relative: str, failure: ReadFailure) -> FileOutcome:
    return FileOutcome(DeidFile(relative, "skipped", error=failure.kind, message=failure.message))


def _deid_one(candidate: Candidate, target: Path) -> tuple[DeidFile, _Written]:
    """The header read, de-identified and rewritten; the pixel data copied as bytes when
    nothing but pixel data follows it (:mod:`pacsaudit.deid.tail`), else the whole file read
    and written by pydicom."""
    deid = _state["deid"]
    assert isinstance(deid, Deidentifier)
    fd = open_input(candidate.path)
    try:
        header = read_header(candidate.path, fd)
        ds, kind = header.dataset, header.kind
        _refuse_dicomdir(ds)
        tail = _pixel_tail(ds, fd, header.pixel_offset, header.size)
        if tail is None:
            ds, kind, _ = read_dicom(candidate.path, header_only=False)
        outcome = deid.apply(ds)
        written = _write(_encode(ds, kind), target, tail)
    finally:
        os.close(fd)
    record = DeidFile(
        candidate.display,
        "written",
        review=list(iter_review_reasons(outcome)),
        actions=dict(outcome.actions),
    )
    return record, written


def _refuse_dicomdir(ds: Dataset) -> None:
    meta = getattr(ds, "file_meta", None)
    if getattr(meta, "MediaStorageSOPClassUID", None) == MediaStorageDirectoryStorage:
        raise ReadFailure(FileError.DICOMDIR, "not copied: rebuild it from the output")


def _pixel_tail(ds: Dataset, fd: int, offset: int, size: int) -> _Tail | None:
    """The tail to copy as bytes, or None when the whole file must go through pydicom: a
    deflated data set (its offsets are in the inflated stream), an encoding pydicom could not
    tell, anything after the header that is not pixel data. ``size`` is what the header
    read found through the same descriptor, so the tail checked is the tail copied."""
    implicit_vr, little_endian = ds.original_encoding
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax == DeflatedExplicitVRLittleEndian or implicit_vr is None or little_endian is None:
        return None
    if not pixel_tail(fd, offset, size, implicit_vr=implicit_vr, little_endian=little_endian):
        return None
    return _Tail(fd, offset, size)


def _deid_chunk(chunk: list[tuple[Candidate, JournalEntry | None]]) -> list[FileOutcome]:
    return [deid_file(c, vouched) for c, vouched in chunk]


def _check_paths(source: Path, output: Path) -> None:
    try:
        src, out = source.resolve(), output.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise UsageError(f"cannot resolve IN or OUT: {exc.__class__.__name__}") from None
    if not src.exists():
        raise UsageError(f"{source} does not exist")
    if src == out or out.is_relative_to(src) or src.is_relative_to(out):
        raise UsageError("IN and OUT must not contain each other: originals stay untouched")


def _run_record(plan: DeidPlan) -> dict[str, object]:
    return {
        "pacsaudit": __version__,
        "table": load_table().edition,
        "options": sorted(str(o) for o in plan.options.options),
        "safe_private": sorted(f"{c}:{e:02x}" for c, e in plan.options.safe_private),
        "key_fingerprint": Pseudonyms(plan.key).fingerprint(),
        **({"pseudonymise_paths": True} if plan.pseudonymise_paths else {}),
    }


def _check_output_folder(output: Path) -> None:
    """OUT must be new, empty, or marked by an earlier deid run (``run.json``).

    Anything else (a file, a folder of originals, IN's sibling with the user's own files) is
    refused: the files there were not written by us, and a resume must never take them for
    de-identified ones, nor may a run write among them.
    """
    if not output.exists():
        return
    if not output.is_dir():
        raise UsageError(
            f"OUT {output} is a file: give a new or empty folder, or the OUT of an earlier deid run"
        )
    if (output / METADATA_DIR / RUN_FILE).is_file():
        return
    with os.scandir(output) as entries:
        foreign = any(e.name != METADATA_DIR for e in entries)
    if foreign:
        raise UsageError(
            f"OUT {output} is not empty and no deid run wrote it: give a new or empty folder"
        )


def _prepare_output(plan: DeidPlan) -> Path:
    """Check OUT, mark it as this run's and clean up after an interrupted one; one clear error
    (never a traceback) when OUT is unusable."""
    try:
        _check_output_folder(plan.output)
        meta_dir = plan.output / METADATA_DIR
        meta_dir.mkdir(parents=True, exist_ok=True)
        _mark(meta_dir, _run_record(plan))
        _remove_temporary_files(plan.output)
    except OSError as exc:
        raise UsageError(f"cannot use OUT {plan.output}: {describe_os_error(exc)}") from None
    return meta_dir


def _mark(meta_dir: Path, record: dict[str, object]) -> None:
    """Write ``run.json`` (atomically) for a new OUT; for an existing one, insist it matches."""
    run_file = meta_dir / RUN_FILE
    if run_file.exists():
        try:
            previous = json.loads(run_file.read_bytes())
        except ValueError:
            raise UsageError(f"{run_file} is damaged: choose another OUT") from None
        if previous != record:
            raise UsageError(
                f"{meta_dir.parent} holds a run with other options, table or key; "
                "resume with the same ones or choose another OUT"
            )
        return
    (meta_dir / JOURNAL_FILE).unlink(missing_ok=True)  # a journal of no run vouches for nothing
    tmp = run_file.with_name(run_file.name + TMP_SUFFIX)
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, run_file)


def _remove_temporary_files(output: Path) -> None:
    for dirpath, _, filenames in os.walk(output):
        for name in filenames:
            if name.endswith(TMP_SUFFIX):
                Path(dirpath, name).unlink(missing_ok=True)  # left by an interrupted run


def _pseudonymous(candidates: list[Candidate], names: Pseudonyms) -> list[Candidate]:
    """Every relative path renamed component by component (same key, same names: a resumed
    run and a later run find their files again). From here on the logs, the journal and the
    review list hold only these names; the originals' paths never reach OUT."""
    renamed: list[Candidate] = []
    seen: dict[Path, Path] = {}
    for c in candidates:
        new = Path(*(names.path_name(part) for part in c.relative.parts))
        other = seen.setdefault(new, c.relative)
        if other != c.relative:  # 64-bit names: never expected, but never overwrite
            raise UsageError("two input paths were given the same pseudonymous name; report this")
        renamed.append(dataclasses.replace(c, relative=new))
    return renamed


def _work(
    candidates: list[Candidate], journal: dict[str, JournalEntry]
) -> list[tuple[Candidate, JournalEntry | None]]:
    """Pair each file with the journal entry that may vouch for its output: only an entry made
    from the same input (same size and modification time) can."""
    work: list[tuple[Candidate, JournalEntry | None]] = []
    for c in candidates:
        entry = journal.get(c.display)
        same_input = entry is not None and (entry.source_size, entry.source_mtime_ns) == (
            c.size,
            c.mtime_ns,
        )
        work.append((c, entry if same_input else None))
    return work


@dataclass
class _Tally:
    """Counts and records of this run, filled in input order by the main process."""

    files: list[DeidFile] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    written: int = 0
    already: int = 0
    bytes_written: int = 0

    def add(self, record: DeidFile, size: int) -> None:
        if record.status == "already-done":
            self.already += 1
        elif record.status == "written":
            self.written += 1
            self.bytes_written += size
        else:
            self.skipped[str(record.error)] += 1
        self.files.append(record)


class _Logs:
    """The per-file log and the resume journal in OUT, appended to by the main process only."""

    def __init__(self, meta_dir: Path) -> None:
        self.log = os.open(meta_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.journal = open_journal(meta_dir / JOURNAL_FILE)
        except BaseException:
            os.close(self.log)
            raise

    def record(self, outcome: FileOutcome) -> None:
        if outcome.record.status != "already-done":
            _append_line(self.log, encode_line(outcome.record))
        if outcome.entry is not None:  # after the rename: it vouches for a whole file
            _append_line(self.journal, encode_entry(outcome.entry))

    def close(self) -> None:
        os.close(self.log)
        os.close(self.journal)


def _append_line(fd: int, line: bytes) -> None:
    """One whole line or nothing: a write cut short (a full disk) is taken back, then raised."""
    done = os.write(fd, line)
    if done < len(line):
        os.ftruncate(fd, os.fstat(fd).st_size - done)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def run_deid(
    plan: DeidPlan,
    *,
    on_total: Callable[[int], None] | None = None,
    on_file: Callable[[int], None] | None = None,
) -> DeidResult:
    """De-identify ``plan.source`` into ``plan.output``; see the module docstring.

    When OUT's own log cannot be written (its file system is full) the run stops with a
    UsageError: every output written so far is whole, and running the same command again after
    freeing space resumes.
    """
    started = time.perf_counter()
    _check_paths(plan.source, plan.output)
    meta_dir = _prepare_output(plan)
    candidates = list(walk([plan.source]))
    if not plan.source.is_dir():
        candidates = [dataclasses.replace(c, relative=Path(c.relative.name)) for c in candidates]
    if plan.pseudonymise_paths:
        candidates = _pseudonymous(candidates, Pseudonyms(plan.key))
    work = _work(candidates, read_journal(meta_dir / JOURNAL_FILE))
    if on_total is not None:
        on_total(len(candidates))
    tally = _Tally()
    try:
        interrupted = _process(plan, work, _Logs(meta_dir), tally, on_file)
        # Every output in OUT that needs a look, whichever run wrote it: the journal holds
        # them all (an interrupted resume, or an input since moved, must not drop one).
        review = [
            (entry.path, entry.review)
            for entry in read_journal(meta_dir / JOURNAL_FILE).values()
            if entry.review
        ]
        _write_review(meta_dir / REVIEW_FILE, review)
    except OSError as exc:
        raise UsageError(
            f"cannot write to {meta_dir}: {describe_os_error(exc)}; free space, then run the "
            "same command to resume"
        ) from None
    elapsed = time.perf_counter() - started
    summary = DeidSummary(
        input=str(plan.source),
        output=str(plan.output),
        table=load_table().edition,
        options=sorted(str(o) for o in plan.options.options),
        files_seen=len(tally.files),
        written=tally.written,
        already_done=tally.already,
        skipped=dict(sorted(tally.skipped.items())),
        review=len(review),
        bytes_written=tally.bytes_written,
        elapsed_s=round(elapsed, 3),
        files_per_s=round(len(tally.files) / elapsed, 1) if elapsed > 0 else 0.0,
        interrupted=interrupted,
    )
    return DeidResult(summary, tally.files)


def _process(
    plan: DeidPlan,
    work: list[tuple[Candidate, JournalEntry | None]],
    logs: _Logs,
    tally: _Tally,
    on_file: Callable[[int], None] | None,
) -> bool:
    """Run the workers over ``work``, logging each file; True when interrupted."""
    initargs = (plan.key, plan.options, str(plan.output))
    try:
        _init_worker(*initargs)  # before the pool forks: workers inherit what it built
        results = ordered_map(
            _deid_chunk,
            work,
            jobs=plan.jobs,
            chunk_size=chunk_size(work, plan.jobs),
            initializer=_init_worker,
            initargs=initargs,
        )
        for outcome in results:
            logs.record(outcome)
            tally.add(outcome.record, outcome.size)
            if on_file is not None:
                on_file(outcome.size)
    except (KeyboardInterrupt, BrokenExecutor):
        # Ctrl-C reaches the workers too (same process group) and breaks the pool: either way
        # what was written is whole, the rest is done by running the same command again.
        # (BrokenExecutor: the base of BrokenProcessPool, named without loading
        # multiprocessing, which a one-process run never needs.)
        return True
    finally:
        logs.close()
    return False


_CHUNK_FILES = 32
_CHUNK_BYTES = 16 << 20


def chunk_size(work: list[tuple[Candidate, JournalEntry | None]], jobs: int) -> int:
    """Files per task: up to 32 small ones (fewer round trips), but never so many that one
    worker gets the whole run: at least eight tasks per worker, and about 16 MB of input per
    task, so a dozen 50 MB multi-frame files are spread over every worker."""
    if not work:
        return 1
    average = sum(c.size for c, _ in work) / len(work)
    by_bytes = int(_CHUNK_BYTES // max(average, 1.0))
    return max(1, min(_CHUNK_FILES, len(work) // (jobs * 8), by_bytes))


def _write_review(path: Path, review: list[tuple[str, list[str]]]) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    lines = [
        json.dumps({"path": where, "reasons": reasons}, separators=(",", ":")) + "\n"
        for where, reasons in sorted(review)
    ]
    tmp.write_text("".join(lines))
    os.replace(tmp, path)
