"""Measure what an accepted association exposes: patients, studies, images, PHI attributes,
retrieval — by universal-matching C-FINDs, never by retrieving an instance.

Order: PATIENT level (Patient Root), STUDY level (Study Root), then — only where the server does
not fill Number of Study Related Instances — SERIES level per study, and IMAGE level per series
where Number of Series Related Instances is missing too. Every level is bounded by
``max_records`` and the session deadline; a bound hit sends C-CANCEL and marks the count as a
lower bound. Study and series UIDs live in memory for the follow-up queries and are never
written anywhere.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from pacsaudit.errors import classify
from pacsaudit.measure.identifiers import (
    PATIENT_LEVEL_PHI,
    STUDY_LEVEL_PHI,
    IdentifierTally,
    count_string,
    is_present,
    modality_codes,
    raw_value,
)
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.measure.markers import MarkerTally
from pacsaudit.model import ErrorInfo, Exposure, MoveCheck, QueryStats, Retrieval
from pacsaudit.probes.dicom import query
from pacsaudit.probes.dicom.keyed_query import KeyedQuery
from pacsaudit.probes.dicom.options import ExposureOptions
from pacsaudit.probes.dicom.session import Session
from pacsaudit.probes.dicom.uids import (
    PATIENT_ROOT_FIND,
    PATIENT_ROOT_GET,
    PATIENT_ROOT_MOVE,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
)

REFUSED_STATUSES = frozenset({0x0122, 0x0124, 0xA700, 0xA900, 0x0211})


if TYPE_CHECKING:
    from pydicom.dataset import Dataset


def _identifier(level: str, keys: dict[str, str]) -> Dataset:
    """A query with values (series and images of one study): pydicom builds and writes it,
    loaded by then (the studies it asks about were decoded)."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


@functools.cache
def patient_identifier(phi: tuple[str, ...] = PATIENT_LEVEL_PHI) -> KeyedQuery:
    """The patient-level query: every key empty (written by hand, :mod:`.keyed_query`); one
    per key set, as every host is asked the same."""
    return KeyedQuery("PATIENT", phi)


@functools.cache
def study_identifier(phi: tuple[str, ...] = STUDY_LEVEL_PHI) -> KeyedQuery:
    """The study-level query, with the keys the survey counts and lists by."""
    return KeyedQuery("STUDY", (*phi, *STUDY_COUNT_KEYS))


STUDY_COUNT_KEYS = (
    "StudyInstanceUID",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
    "NumberOfStudyRelatedSeries",
)


# Required keys only (PS3.4 C.6.1.1.2, C.6.2.1.2): for servers that fail on optional ones.
MINIMAL_PATIENT = ("PatientName", "PatientID")
MINIMAL_STUDY = ("PatientName", "PatientID", "StudyDate", "AccessionNumber", "StudyID")


class _Level(msgspec.Struct):
    level: str
    model: str
    queries: int = 0
    records: int = 0
    lower_bound: bool = False
    statuses: defaultdict[str, int] = msgspec.field(
        default_factory=functools.partial(defaultdict, int)
    )
    """Final statuses in hex, counted (a defaultdict: a Counter costs a microsecond a level)."""
    error: ErrorInfo | None = None

    def note(self, outcome: query.QueryOutcome) -> None:
        self.queries += 1
        self.records += outcome.records
        self.lower_bound |= outcome.cancelled
        if outcome.final_status is not None:
            self.statuses[f"{outcome.final_status:04X}"] += 1

    def stats(self) -> QueryStats:
        return QueryStats(
            level=self.level,
            model=self.model,
            queries=self.queries,
            records=self.records,
            lower_bound=self.lower_bound,
            statuses=dict(self.statuses),
            error=self.error,
        )


_ANSWERED = frozenset({f"{query.SUCCESS:04X}", f"{query.CANCELLED:04X}"})


def unknown_reason(level: _Level) -> str | None:
    """None when the level's count stands (records read, or a query ended in success or
    cancel); else why it is unknown: the error that broke the query, or the refusal status."""
    if level.records or _ANSWERED.intersection(level.statuses):
        return None
    if level.error is not None:
        return level.error.detail or str(level.error.kind)
    refusals = sorted(level.statuses)
    return f"refused-{refusals[0]}" if refusals else "no-answer"


def _uid(raw: bytes | None) -> bytes | None:
    """A UID value as sent, padding stripped; None when absent or empty."""
    if raw is None:
        return None
    value = raw.strip(b" \0")
    return value or None


def _failed(outcome: query.QueryOutcome) -> bool:
    return outcome.records == 0 and outcome.final_status not in (
        query.SUCCESS,
        query.CANCELLED,
        None,
    )


class ExposureSurvey:
    """One survey over one session; ``run`` never raises for peer behaviour."""

    def __init__(
        self,
        session: Session,
        contexts: dict[str, int],
        hasher: KeyedHasher,
        options: ExposureOptions,
    ) -> None:
        self.session = session
        self.contexts = contexts
        self.options = options
        self.tally = IdentifierTally(hasher, max_hashes=options.max_records)
        self.markers = MarkerTally()
        self.levels: dict[str, _Level] = {}
        self.study_uids: list[bytes] = []
        self.study_instance_counts: list[int | None] = []
        self.series_count = 0
        self.series_lower_bound = False
        self.images: int | None = None
        self.images_source: str | None = None
        self.series_modalities: dict[bytes, set[str]] = {}
        self._seen_studies: set[bytes] = set()
        self.non_conforming = 0
        """Answers that ignored our keys (another study or series) or lacked their unique
        key: never counted, reported as evidence about the server."""
        self.error: ErrorInfo | None = None

    async def run(self) -> Exposure:
        try:
            if PATIENT_ROOT_FIND in self.contexts:
                await self._patients()
            if STUDY_ROOT_FIND in self.contexts:
                await self._studies()
                if unknown_reason(self.levels["STUDY"]) is None:
                    await self._images()  # no studies known: no image count, not 0
        except Exception as exc:  # the peer broke the exchange: keep what we have
            self.error = classify(exc).error
        return self._result()

    # -- levels ----------------------------------------------------------------------------

    async def _find(
        self,
        level: _Level,
        sop_class: str,
        identifier: Dataset | KeyedQuery,
        on_record: Callable[[Dataset], None],
    ) -> query.QueryOutcome:
        budget = self.options.max_records - level.records
        outcome = query.QueryOutcome()
        try:
            await query.find(
                self.session,
                self.contexts[sop_class],
                sop_class,
                identifier,
                max_records=max(budget, 1),
                reserve=self.options.reserve,
                on_record=on_record,
                outcome=outcome,
            )
        except Exception as exc:
            level.error = classify(exc).error
            raise
        finally:
            level.note(outcome)  # a broken query still counted what it read
        return outcome

    async def _patients(self) -> None:
        level = self.levels.setdefault("PATIENT", _Level("PATIENT", "patient-root"))

        def on_patient(ds: Dataset) -> None:
            self.tally.add(ds, PATIENT_LEVEL_PHI)

        outcome = await self._find(level, PATIENT_ROOT_FIND, patient_identifier(), on_patient)
        if _failed(outcome):
            await self._find(
                level, PATIENT_ROOT_FIND, patient_identifier(MINIMAL_PATIENT), on_patient
            )

    async def _studies(self) -> None:
        level = self.levels.setdefault("STUDY", _Level("STUDY", "study-root"))

        def on_study(ds: Dataset) -> None:
            self.tally.add(ds, STUDY_LEVEL_PHI)
            uid = raw_value(ds, "StudyInstanceUID")
            if not is_present(uid):
                self.tally.add_study(ds)
                self.markers.add_study(ds)
            else:
                assert uid is not None
                uid = uid.strip(b" \0")
                # Some servers (pynetdicom's qrscp) answer once per instance: count studies,
                # not answers.
                if uid not in self._seen_studies:
                    self._seen_studies.add(uid)
                    self.tally.add_study(ds)
                    self.markers.add_study(ds)
                    self.study_uids.append(uid)
                    self.study_instance_counts.append(
                        count_string(raw_value(ds, "NumberOfStudyRelatedInstances"))
                    )

        outcome = await self._find(level, STUDY_ROOT_FIND, study_identifier(), on_study)
        if _failed(outcome):
            await self._find(level, STUDY_ROOT_FIND, study_identifier(MINIMAL_STUDY), on_study)

    async def _images(self) -> None:
        counts = self.study_instance_counts
        if counts and all(c is not None for c in counts):
            self.images = sum(c for c in counts if c is not None)
            self.images_source = "study-related-instances"
            return
        if not counts:  # no study listed: nothing to count, no series level to open
            self.images = 0
            self.images_source = "series-related-instances"
            return
        series_level = self.levels.setdefault("SERIES", _Level("SERIES", "study-root"))
        image_level = self.levels.setdefault("IMAGE", _Level("IMAGE", "study-root"))
        total = 0
        used_image_query = False
        for study_uid, study_count in zip(self.study_uids, counts, strict=True):
            if study_count is not None:
                total += study_count
                continue
            if self._out_of_budget(series_level):
                series_level.lower_bound = True
                break
            series = await self._series_of(series_level, study_uid)
            self.series_count += len(series)
            for series_uid, series_count in series:
                if series_count is not None:
                    total += series_count
                    continue
                if self._out_of_budget(image_level):
                    image_level.lower_bound = True
                    break
                used_image_query = True
                total += await self._instances_of(image_level, study_uid, series_uid)
        self.images = total
        self.images_source = "image-query" if used_image_query else "series-related-instances"

    async def _series_of(self, level: _Level, study_uid: bytes) -> list[tuple[bytes, int | None]]:
        """The distinct series of one study, each with its Number of Series Related Instances.
        An answer naming another study is the server ignoring our key: not counted, noted."""
        series: dict[bytes, int | None] = {}
        modalities = self.series_modalities.setdefault(study_uid, set())

        def on_series(ds: Dataset) -> None:
            if not self._conforms(ds, "StudyInstanceUID", study_uid):
                return
            uid = _uid(raw_value(ds, "SeriesInstanceUID"))
            if uid is None:
                self.non_conforming += 1  # the unique key we asked for is missing
                return
            if uid not in series:
                series[uid] = count_string(raw_value(ds, "NumberOfSeriesRelatedInstances"))
            modalities.update(modality_codes(raw_value(ds, "Modality")))

        keys = {
            "StudyInstanceUID": study_uid.decode("ascii", "replace"),
            "SeriesInstanceUID": "",
            "Modality": "",
            "NumberOfSeriesRelatedInstances": "",
        }
        await self._find(level, STUDY_ROOT_FIND, _identifier("SERIES", keys), on_series)
        return list(series.items())

    async def _instances_of(self, level: _Level, study_uid: bytes, series_uid: bytes) -> int:
        """Distinct SOP Instance UIDs of one series (held in memory for this query only)."""
        seen: set[bytes] = set()

        def on_image(ds: Dataset) -> None:
            if not (
                self._conforms(ds, "StudyInstanceUID", study_uid)
                and self._conforms(ds, "SeriesInstanceUID", series_uid)
            ):
                return
            uid = _uid(raw_value(ds, "SOPInstanceUID"))
            if uid is None:
                self.non_conforming += 1
            else:
                seen.add(uid)

        keys = {
            "StudyInstanceUID": study_uid.decode("ascii", "replace"),
            "SeriesInstanceUID": series_uid.decode("ascii", "replace"),
            "SOPInstanceUID": "",
        }
        await self._find(level, STUDY_ROOT_FIND, _identifier("IMAGE", keys), on_image)
        return len(seen)

    def _conforms(self, ds: Dataset, keyword: str, wanted: bytes) -> bool:
        """False (and counted) when an answer carries another value of a key we matched on:
        PS3.4 C.4.1.1.3 says every answer matches the unique keys of the request."""
        value = _uid(raw_value(ds, keyword))
        if value is not None and value != wanted:
            self.non_conforming += 1
            return False
        return True

    def _out_of_budget(self, level: _Level) -> bool:
        return (
            level.records >= self.options.max_records
            or self.session.time_left() < self.options.reserve
        )

    # -- result ----------------------------------------------------------------------------

    def _result(self) -> Exposure:
        patients = self.levels.get("PATIENT")
        studies = self.levels.get("STUDY")
        series = self.levels.get("SERIES")
        images = self.levels.get("IMAGE")
        modalities = dict(self.tally.modalities)
        if not modalities:
            for codes in self.series_modalities.values():
                for code in codes:
                    modalities[code] = modalities.get(code, 0) + 1
        images_lower = bool(
            (series and series.lower_bound)
            or (images and images.lower_bound)
            or (studies and studies.lower_bound)
        )
        unknown = self._unknown()
        # Distinct keyed Patient IDs where the server returned them, else one per answer.
        n_patients = (
            (len(self.tally.patient_hashes) or patients.records)
            if patients and "patients" not in unknown
            else None
        )
        n_studies = (
            (len(self.study_uids) or studies.records)
            if studies and "studies" not in unknown
            else None
        )
        return Exposure(
            patients=n_patients,
            patients_lower_bound=bool(patients and patients.lower_bound),
            studies=n_studies,
            studies_lower_bound=bool(studies and studies.lower_bound),
            series=self.series_count if series and series.queries else None,
            series_lower_bound=bool(series and series.lower_bound),
            images=self.images,
            images_lower_bound=images_lower if self.images is not None else False,
            images_source=self.images_source,
            modalities=dict(sorted(modalities.items())),
            study_years={str(y): n for y, n in sorted(self.tally.years.items())},
            phi_attributes=dict(sorted(self.tally.phi.items())),
            records_examined=self.tally.records,
            distinct_patients=len(self.tally.patient_hashes),
            patient_id_hashes=sorted(self.tally.patient_hashes),
            hash_key_id=self.tally.hasher.key_id,
            data_markers=dict(sorted(self.markers.hits.items())),
            queries=[lv.stats() for lv in self.levels.values() if lv.queries or lv.error],
            unknown=unknown,
            non_conforming=self.non_conforming,
            error=self.error,
        )

    def _unknown(self) -> dict[str, str]:
        """Why each count the server did not give is ``null``: a refused or broken C-FIND
        answers nothing about how many records there are, so its count is unknown, not 0."""
        unknown: dict[str, str] = {}
        for name, level_name, sop_class in (
            ("patients", "PATIENT", PATIENT_ROOT_FIND),
            ("studies", "STUDY", STUDY_ROOT_FIND),
        ):
            level = self.levels.get(level_name)
            if level is not None:
                reason = unknown_reason(level)
            elif sop_class in self.contexts and self.error is not None:
                reason = "not-queried"
            else:
                continue
            if reason is not None:
                unknown[name] = reason
        if self.images is None and "studies" in unknown:
            unknown["images"] = unknown["studies"]
        return unknown

    # -- retrieval -------------------------------------------------------------------------

    async def retrieval(self) -> Retrieval:
        get_ok = PATIENT_ROOT_GET in self.contexts or STUDY_ROOT_GET in self.contexts
        contexts = self.contexts
        move_class = (
            STUDY_ROOT_MOVE
            if STUDY_ROOT_MOVE in contexts
            else PATIENT_ROOT_MOVE
            if PATIENT_ROOT_MOVE in contexts
            else None
        )
        if move_class is None or not self.options.check_move:
            return Retrieval(get_accepted=get_ok, move_accepted=move_class is not None)
        # A study the server holds (servers check the study before the destination, Orthanc
        # among them), sent to a destination no server knows: nothing can be moved.
        # A UID that breaks PS3.5's syntax names no study a server could look up: a random
        # one then, as where no study was listed.
        study = next(
            (u for u in self.study_uids[:1] if query.MoveKey.is_uid(u)),
            f"2.25.{random.getrandbits(120)}".encode("ascii"),
        )
        key = (
            query.MoveKey("STUDY", study)
            if move_class == STUDY_ROOT_MOVE
            else query.MoveKey("PATIENT", f"PA{random.getrandbits(48):012X}".encode("ascii"))
        )
        destination = f"PA{random.getrandbits(48):012X}"
        try:
            outcome = await query.move_to_unknown_destination(
                self.session, self.contexts[move_class], move_class, key, destination
            )
        except Exception as exc:
            return Retrieval(
                get_accepted=get_ok,
                move_accepted=True,
                move_check=MoveCheck.FAILED,
                error=classify(exc).error,
            )
        status = outcome.final_status
        if status == query.MOVE_DESTINATION_UNKNOWN:
            check = MoveCheck.DESTINATION_UNKNOWN
        elif status == query.SUCCESS or outcome.pending:
            check = MoveCheck.ACCEPTED
        elif status in REFUSED_STATUSES:
            check = MoveCheck.REFUSED
        else:
            check = MoveCheck.FAILED
        return Retrieval(
            get_accepted=get_ok, move_accepted=True, move_check=check, move_status=status
        )
