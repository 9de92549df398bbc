"""``pacsaudit inspect``: how much PHI sits in files and shares, counted, never copied.

Each worker process reads headers only (pydicom stops before Pixel Data), counts the Annex E
attributes present with :func:`pacsaudit.measure.count_present`, and sends back keywords, counts
and keyed hashes (for distinct patients, studies and series). The hash key is drawn at random
for each run and forgotten with it: the hashes can be compared within a run and never linked
to anything outside it.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pacsaudit.files.output import unlisted_warnings
from pacsaudit.files.pool import ordered_map
from pacsaudit.files.read import (
    Candidate,
    FileError,
    Kind,
    ReadFailure,
    classify,
    quiet_pydicom,
    read_dicom,
    walk,
)
from pacsaudit.inspection.model import (
    AttributeCount,
    BurnedInCounts,
    FileProblem,
    InspectSummary,
)
from pacsaudit.measure import polyglot
from pacsaudit.measure.annex_e import (
    PRIVATE_KEYWORD,
    AnnexETable,
    Option,
    declared_options,
    load_table,
    resolve,
)
from pacsaudit.measure.burned_in import BurnedIn, burned_in_risk
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.measure.path_names import path_names_patient
from pacsaudit.measure.polyglot import executable_preamble
from pacsaudit.measure.presence import count_present

_REMOVED_BY_PROFILE = frozenset("XZ")


@dataclass(frozen=True, slots=True)
class FileScan:
    """What a worker sends back for one file: keywords, counts and keyed hashes only."""

    relative: str
    size: int
    problem: ReadFailure | None = None
    kind: Kind = Kind.NOT_DICOM
    counts: dict[str, int] = field(default_factory=dict)
    identifying: tuple[str, ...] = ()
    deidentified: bool = False
    burned_in: BurnedIn = BurnedIn.UNLIKELY
    modality: str = ""
    patient: str = ""
    study: str = ""
    series: str = ""
    named_path: bool = False
    """A folder or file name on the way to this file is its patient's name or ID."""
    executable: bool = False
    """The preamble pydicom already read is a PE or ELF header (CVE-2019-11687)."""


_state: dict[str, object] = {}


def _init_worker(hash_key: bytes) -> None:
    quiet_pydicom()
    _state["hasher"] = KeyedHasher(hash_key)
    _state["table"] = load_table()


def identifying_keywords(
    counts: dict[str, int], declared: frozenset[Option] | None, table: AnnexETable
) -> tuple[str, ...]:
    """Keywords whose values still identify: all of them in a file not marked de-identified;
    in a de-identified one, those its declared profile removes (``X``) or empties (``Z``)."""
    if declared is None:
        return tuple(counts)
    found = []
    for keyword in counts:
        attr = table.by_keyword.get(keyword)
        if attr is not None and resolve(attr.action(declared)) in _REMOVED_BY_PROFILE:
            found.append(keyword)
    return tuple(found)


def scan_file(candidate: Candidate) -> FileScan:
    """Read one file's header and measure it; never raises for a bad file."""
    hasher = _state["hasher"]
    table = _state["table"]
    assert isinstance(hasher, KeyedHasher)
    assert isinstance(table, AnnexETable)
    relative = candidate.display
    if candidate.problem is not None:  # a folder the walk could not list
        return FileScan(relative=relative, size=0, problem=candidate.problem)
    try:
        ds, kind, size = read_dicom(candidate.path, header_only=True)
        counts = dict(count_present(ds, table))
        declared = declared_options(ds)
        patient_id = str(ds.get("PatientID", "") or "")
        if patient_id:
            patient = f"id|{patient_id}|{ds.get('IssuerOfPatientID', '') or ''}"
        else:
            patient = f"name|{ds.get('PatientName', '') or ''}"
        return FileScan(
            relative=relative,
            size=size,
            kind=kind,
            counts=counts,
            identifying=identifying_keywords(counts, declared, table),
            deidentified=declared is not None,
            burned_in=burned_in_risk(ds),
            modality=str(ds.get("Modality", "") or "").strip().upper()[:16],
            patient=hasher.hash_in("patient", patient),
            study=hasher.hash_in("study", str(ds.get("StudyInstanceUID", "") or "")),
            series=hasher.hash_in("series", str(ds.get("SeriesInstanceUID", "") or "")),
            named_path=path_names_patient(_path_words(candidate), ds),
            executable=executable_preamble(getattr(ds, "preamble", None) or b"") is not None,
        )
    except ReadFailure as failure:
        return FileScan(relative=relative, size=candidate.size, problem=failure)
    except Exception as exc:  # a bug on one file must not end the run
        return FileScan(relative=relative, size=candidate.size, problem=classify(exc))


def _path_words(candidate: Candidate) -> tuple[str, ...]:
    """The names a lister sees: folders below the root given, and the file's own name."""
    return candidate.relative.parts


def _scan_chunk(chunk: list[Candidate]) -> list[FileScan]:
    return [scan_file(c) for c in chunk]


@dataclass
class _Totals:
    files: int = 0
    dicom: int = 0
    headerless: int = 0
    deidentified: int = 0
    bytes_read: int = 0
    with_identifying: int = 0
    private_files: int = 0
    private_elements: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)
    identifying: Counter[str] = field(default_factory=Counter)
    burned_in: Counter[BurnedIn] = field(default_factory=Counter)
    modalities: Counter[str] = field(default_factory=Counter)
    patients: set[str] = field(default_factory=set)
    studies: set[str] = field(default_factory=set)
    series: set[str] = field(default_factory=set)
    named_paths: int = 0
    executable: int = 0

    def add(self, scan: FileScan) -> None:
        self.files += 1
        if scan.problem is not None:
            self.problems[scan.problem.kind] += 1
            return
        self.dicom += 1
        self.bytes_read += scan.size
        self.headerless += scan.kind is Kind.HEADERLESS
        self.deidentified += scan.deidentified
        self.with_identifying += bool(scan.identifying)
        self.present.update(scan.counts.keys())
        self.identifying.update(scan.identifying)
        private = scan.counts.get(PRIVATE_KEYWORD, 0)
        self.private_files += private > 0
        self.private_elements += private
        self.burned_in[scan.burned_in] += 1
        self.modalities[scan.modality or "-"] += 1
        self.patients.add(scan.patient)
        self.studies.add(scan.study)
        self.series.add(scan.series)
        self.named_paths += scan.named_path
        self.executable += scan.executable


@dataclass
class InspectResult:
    summary: InspectSummary
    problems: list[FileProblem]

    @property
    def warnings(self) -> list[str]:
        """What the user must hear even with ``--quiet``: parts of the input never seen."""
        return unlisted_warnings(
            [(p.path, p.message) for p in self.problems if p.error is FileError.UNLISTABLE],
            "inspected",
        )


def inspect_paths(
    roots: Sequence[Path],
    *,
    jobs: int = 1,
    on_total: Callable[[int], None] | None = None,
    on_file: Callable[[int], None] | None = None,
) -> InspectResult:
    """Inspect every file under ``roots``; bad files are listed, the run goes on."""
    started = time.perf_counter()
    table = load_table()
    candidates = list(walk(roots))
    if on_total is not None:
        on_total(len(candidates))
    totals = _Totals()
    problems: list[FileProblem] = []
    results = ordered_map(
        _scan_chunk,
        candidates,
        jobs=jobs,
        initializer=_init_worker,
        initargs=(secrets.token_bytes(32),),
    )
    for scan in results:
        totals.add(scan)
        if scan.problem is not None:
            problems.append(FileProblem(scan.relative, scan.problem.kind, scan.problem.message))
        if on_file is not None:
            on_file(scan.size)
    elapsed = time.perf_counter() - started
    attributes = [
        AttributeCount(
            keyword=attr.keyword,
            tag=attr.tag,
            name=attr.name,
            action=attr.basic,
            files=totals.present[attr.keyword],
            identifying=totals.identifying[attr.keyword],
        )
        for attr in table.attributes
        if totals.present[attr.keyword]
    ]
    attributes.sort(key=lambda a: (-a.identifying, -a.files, a.keyword))
    summary = InspectSummary(
        roots=[str(r) for r in roots],
        table=table.edition,
        files_seen=totals.files,
        dicom_files=totals.dicom,
        headerless_files=totals.headerless,
        deidentified_files=totals.deidentified,
        bytes_read=totals.bytes_read,
        problems={str(k): v for k, v in sorted(totals.problems.items())},
        files_with_identifying=totals.with_identifying,
        identifying_attributes=sum(1 for a in attributes if a.identifying),
        private_files=totals.private_files,
        private_elements=totals.private_elements,
        burned_in=BurnedInCounts(
            declared=totals.burned_in[BurnedIn.DECLARED],
            likely=totals.burned_in[BurnedIn.LIKELY],
            declared_none=totals.burned_in[BurnedIn.DECLARED_NONE],
            unlikely=totals.burned_in[BurnedIn.UNLIKELY],
        ),
        modalities=dict(totals.modalities.most_common()),
        patients=len(totals.patients),
        studies=len(totals.studies),
        series=len(totals.series),
        attributes=attributes,
        elapsed_s=round(elapsed, 3),
        files_per_s=round(totals.files / elapsed, 1) if elapsed > 0 else 0.0,
        files_in_named_paths=totals.named_paths,
        executable_dicom_files=totals.executable,
        executable_dicom_source=polyglot.SOURCE if totals.executable else None,
    )
    return InspectResult(summary, problems)
