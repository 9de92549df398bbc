"""``pacsaudit deid IN OUT``: de-identify a tree of files into a mirror of it.

Guarantees, and how they are kept:

- Originals are never modified: inputs are opened read-only and OUT may not overlap IN.
- Nothing half-written is left in OUT: each file is written to a temporary name beside its
  target and renamed into place only when complete; a failed write removes its temporary file,
  and temporary files of an interrupted run are removed when the next run starts.
- An interrupted run resumes: a file whose output exists is done (the rename made it whole).
  ``OUT/.pacsaudit/run.json`` records the options and a fingerprint of the key, and a run with
  other options or another key is refused rather than mixed into the same tree.
- Bad input is reported per file in ``OUT/.pacsaudit/deid-log.jsonl`` and the run goes on.
- Files whose pixels may show text are listed in ``OUT/.pacsaudit/review.jsonl``; their headers
  are clean, their pixels untouched.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, MediaStorageDirectoryStorage

from pacsaudit import __version__
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.deid.profile import Deidentifier, DeidOptions, Outcome, iter_review_reasons
from pacsaudit.errors import UsageError
from pacsaudit.inspection.files import (
    METADATA_DIR,
    Candidate,
    FileError,
    Kind,
    ReadFailure,
    classify,
    quiet_pydicom,
    read_dicom,
    walk,
)
from pacsaudit.inspection.model import DeidFile, DeidSummary, encode_record
from pacsaudit.inspection.pool import ordered_map
from pacsaudit.measure.annex_e import load_table
from pacsaudit.measure.burned_in import burned_in_risk

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


@dataclass
class DeidResult:
    summary: DeidSummary
    files: list[DeidFile] = field(default_factory=list)

    @property
    def metadata_dir(self) -> Path:
        return Path(self.summary.output) / METADATA_DIR


_state: dict[str, object] = {}
_made: set[Path] = set()
"""Output folders this process already created (one mkdir per folder, not per file)."""


def _init_worker(key: bytes, options: DeidOptions, output: str) -> None:
    quiet_pydicom()
    _state["deid"] = Deidentifier(Pseudonyms(key), options)
    _state["output"] = Path(output)


def _target(output: Path, candidate: Candidate) -> Path:
    return output / candidate.relative


def _write(ds: Dataset, kind: Kind, target: Path) -> int:
    """Write beside the target, then rename: the target is whole or absent, never partial."""
    if target.parent not in _made:
        target.parent.mkdir(parents=True, exist_ok=True)
        if len(_made) < 1 << 14:
            _made.add(target.parent)
    data = _encode(ds, kind)
    tmp = target.with_name(f".{target.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        with tmp.open("xb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def _encode(ds: Dataset, kind: Kind) -> bytes:
    """The file's bytes, in its own transfer syntax and format (Part 10 or bare data set).

    pydicom's ``dcmwrite`` deep-copies and re-validates the file meta on every call, a fifth of
    the writing time here; its two building blocks do the same encoding without that. Deflated
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
    fp = DicomBytesIO()
    if kind is Kind.PART10 and meta is not None:
        fp.write(_PREAMBLE + b"DICM")  # a preamble may carry another format's header (TIFF)
        write_file_meta_info(fp, meta, enforce_standard=False)
    fp.is_implicit_VR = implicit_vr
    fp.is_little_endian = little_endian
    write_dataset(fp, ds)
    return fp.getvalue()


def deid_file(candidate: Candidate) -> tuple[DeidFile, int]:
    """De-identify one file into the output tree; never raises for a bad file."""
    deid = _state["deid"]
    output = _state["output"]
    assert isinstance(deid, Deidentifier)
    assert isinstance(output, Path)
    relative = str(candidate.relative)
    target = _target(output, candidate)
    if target.exists():
        # Done by an earlier run: its log line may be missing (workers finish their chunk
        # after Ctrl-C), so the review verdict is read again from the output's header.
        try:
            done, _, _ = read_dicom(target, header_only=True)
            review = list(iter_review_reasons(Outcome(burned_in=burned_in_risk(done))))
        except ReadFailure:
            review = []
        return DeidFile(relative, "already-done", review=review), 0
    try:
        ds, kind, _ = read_dicom(candidate.path, header_only=False)
        meta = getattr(ds, "file_meta", None)
        if getattr(meta, "MediaStorageSOPClassUID", None) == MediaStorageDirectoryStorage:
            raise ReadFailure(FileError.DICOMDIR, "not copied: rebuild it from the output")
        outcome = deid.apply(ds)
        size = _write(ds, kind, target)
    except Exception as exc:  # one bad file must not end the run
        failure = classify(exc)
        return DeidFile(relative, "skipped", error=failure.kind, message=failure.message), 0
    return (
        DeidFile(
            relative,
            "written",
            review=list(iter_review_reasons(outcome)),
            actions=dict(outcome.actions),
        ),
        size,
    )


def _deid_chunk(chunk: list[Candidate]) -> list[tuple[DeidFile, int]]:
    return [deid_file(c) for c in chunk]


def _check_paths(source: Path, output: Path) -> None:
    src, out = source.resolve(), output.resolve()
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
    }


def _prepare_output(plan: DeidPlan) -> Path:
    meta_dir = plan.output / METADATA_DIR
    meta_dir.mkdir(parents=True, exist_ok=True)
    record = _run_record(plan)
    run_file = meta_dir / RUN_FILE
    if run_file.exists():
        previous = json.loads(run_file.read_text())
        if previous != record:
            raise UsageError(
                f"{plan.output} holds a run with other options, table or key; "
                "resume with the same ones or choose another OUT"
            )
    else:
        run_file.write_text(json.dumps(record, indent=2) + "\n")
    for dirpath, _, filenames in os.walk(plan.output):
        for name in filenames:
            if name.endswith(TMP_SUFFIX):
                Path(dirpath, name).unlink(missing_ok=True)  # left by an interrupted run
    return meta_dir


def run_deid(
    plan: DeidPlan,
    *,
    on_total: Callable[[int], None] | None = None,
    on_file: Callable[[int], None] | None = None,
) -> DeidResult:
    """De-identify ``plan.source`` into ``plan.output``; see the module docstring."""
    started = time.perf_counter()
    _check_paths(plan.source, plan.output)
    meta_dir = _prepare_output(plan)
    log_path = meta_dir / LOG_FILE
    source = plan.source
    candidates = list(walk([source]))
    if not source.is_dir():
        candidates = [
            Candidate(c.path, c.root, Path(c.relative.name), c.size, c.regular) for c in candidates
        ]
    if on_total is not None:
        on_total(len(candidates))
    files: list[DeidFile] = []
    skipped: Counter[str] = Counter()
    written = already = bytes_written = 0
    interrupted = False
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        results = ordered_map(
            _deid_chunk,
            candidates,
            jobs=plan.jobs,
            initializer=_init_worker,
            initargs=(plan.key, plan.options, str(plan.output)),
        )
        for record, size in results:
            if record.status == "already-done":
                already += 1
            elif record.status == "written":
                written += 1
                bytes_written += size
                os.write(fd, encode_record(record))  # whole lines: a crash tears none
            else:
                skipped[str(record.error)] += 1
                os.write(fd, encode_record(record))
            files.append(record)
            if on_file is not None:
                on_file(size)
    except (KeyboardInterrupt, BrokenProcessPool):
        # Ctrl-C reaches the workers too (same process group) and breaks the pool: either way
        # what was written is whole, the rest is done by running the same command again.
        interrupted = True
    finally:
        os.close(fd)
    review = [f for f in files if f.review]
    _write_review(meta_dir / REVIEW_FILE, review)
    elapsed = time.perf_counter() - started
    summary = DeidSummary(
        input=str(plan.source),
        output=str(plan.output),
        table=load_table().edition,
        options=sorted(str(o) for o in plan.options.options),
        files_seen=len(files),
        written=written,
        already_done=already,
        skipped=dict(sorted(skipped.items())),
        review=len(review),
        bytes_written=bytes_written,
        elapsed_s=round(elapsed, 3),
        files_per_s=round(len(files) / elapsed, 1) if elapsed > 0 else 0.0,
        interrupted=interrupted,
    )
    return DeidResult(summary, files)


def _write_review(path: Path, review: list[DeidFile]) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    lines = [
        json.dumps({"path": f.path, "reasons": f.review}, separators=(",", ":")) + "\n"
        for f in review
    ]
    tmp.write_text("".join(lines))
    os.replace(tmp, path)
