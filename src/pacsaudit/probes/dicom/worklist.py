"""Count what a Modality Worklist SCP lists to a stranger (PS3.4 Annex K) — and keep counts only.

A worklist is tomorrow's schedule: who comes in, for which examination, on which modality,
sent by whom. One C-FIND on the Modality Worklist Information Model with universal matching
(every key empty) lists every scheduled procedure step the server holds, one answer per step
(K.6.1.2.2). Each answer passes through the identifier tally and is dropped: the step count,
distinct patients by keyed hash and the PHI attributes present are all that is kept. The query
is bounded like the Q/R counts (``--max-records``, the session deadline), with C-CANCEL at the
bound. A refused or broken query leaves the count ``null`` with its reason, never 0.
"""

from __future__ import annotations

import functools

from pydicom.dataset import Dataset

from pacsaudit.errors import classify
from pacsaudit.measure.identifiers import WORKLIST_PHI, WORKLIST_STEP_PHI, IdentifierTally
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import WorklistExposure
from pacsaudit.probes.dicom import query
from pacsaudit.probes.dicom.options import ExposureOptions
from pacsaudit.probes.dicom.session import Session
from pacsaudit.probes.dicom.uids import MODALITY_WORKLIST_FIND

_ANSWERED = frozenset({query.SUCCESS, query.CANCELLED})


@functools.cache
def worklist_identifier() -> Dataset:
    """Universal matching on every return key we count (shared: never modify it)."""
    step = Dataset()
    step.Modality = ""
    step.ScheduledStationAETitle = ""
    for keyword in WORKLIST_STEP_PHI:
        setattr(step, keyword, "")
    ds = Dataset()
    for keyword in WORKLIST_PHI:
        setattr(ds, keyword, "")
    ds.ScheduledProcedureStepSequence = [step]
    return query.fixed(ds)


async def count_worklist(
    session: Session, context_id: int, hasher: KeyedHasher, options: ExposureOptions
) -> WorklistExposure:
    """One bounded Worklist C-FIND; never raises for peer behaviour."""
    tally = IdentifierTally(hasher, max_hashes=options.max_records)
    outcome = query.QueryOutcome()
    error = None
    try:
        await query.find(
            session,
            context_id,
            MODALITY_WORKLIST_FIND,
            worklist_identifier(),
            max_records=options.max_records,
            reserve=options.reserve,
            on_record=tally.add_worklist_item,
            outcome=outcome,
        )
    except Exception as exc:  # the peer broke the exchange: keep what was counted
        error = classify(exc).error
    status = outcome.final_status
    known = outcome.records > 0 or status in _ANSWERED
    reason = None
    if not known:
        reason = (error.detail or str(error.kind)) if error else f"refused-{status or 0:04X}"
    return WorklistExposure(
        scheduled_steps=outcome.records if known else None,
        scheduled_steps_lower_bound=outcome.cancelled or (known and error is not None),
        distinct_patients=len(tally.patient_hashes) if known else None,
        patient_id_hashes=sorted(tally.patient_hashes),
        hash_key_id=hasher.key_id,
        phi_attributes=dict(sorted(tally.phi.items())),
        final_status=f"{status:04X}" if status is not None else None,
        unknown_reason=reason,
        error=error,
    )
