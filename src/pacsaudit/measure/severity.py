"""One exposure class and severity per service, from evidence in its result (README: the table).

The class names the worst thing we *showed*, not what a context list suggests: a Q/R FIND
context accepted is an open door (medium); identifiers with PHI actually returned make it
critical; a C-MOVE processed for an unknown destination, or C-GET next to a readable archive,
makes it high.
"""

from __future__ import annotations

from pacsaudit.model import (
    AePolicy,
    Exposure,
    ExposureClass,
    MoveCheck,
    Retrieval,
    Severity,
)

SEVERITY_OF: dict[ExposureClass, Severity] = {
    ExposureClass.PHI_READABLE: Severity.CRITICAL,
    ExposureClass.RETRIEVABLE: Severity.HIGH,
    ExposureClass.OPEN_ASSOCIATION: Severity.MEDIUM,
    ExposureClass.AE_ENFORCED: Severity.LOW,
    ExposureClass.ANONYMOUS_ACCESS: Severity.MEDIUM,
    ExposureClass.AUTH_REQUIRED: Severity.LOW,
    ExposureClass.TLS_ONLY: Severity.INFO,
    ExposureClass.CLOSED: Severity.INFO,
}

_ENFORCED = frozenset(
    {AePolicy.CALLED_AE_ENFORCED, AePolicy.CALLING_AE_ENFORCED, AePolicy.REJECTS_ALL}
)


def dicom_exposure_class(
    *,
    accepted: bool,
    ae_policy: AePolicy,
    exposure: Exposure | None,
    retrieval: Retrieval | None,
) -> ExposureClass:
    if exposure is not None and any(n > 0 for n in exposure.phi_attributes.values()):
        return ExposureClass.PHI_READABLE
    if retrieval is not None and (
        retrieval.move_check in (MoveCheck.DESTINATION_UNKNOWN, MoveCheck.ACCEPTED)
        or (retrieval.get_accepted and exposure is not None and (exposure.studies or 0) > 0)
    ):
        return ExposureClass.RETRIEVABLE
    if accepted:
        return ExposureClass.OPEN_ASSOCIATION
    if ae_policy in _ENFORCED:
        return ExposureClass.AE_ENFORCED
    return ExposureClass.CLOSED


def severity_at_least(severity: Severity | None, threshold: Severity) -> bool:
    return severity is not None and severity.rank >= threshold.rank
