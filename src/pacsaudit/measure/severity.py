"""One exposure class and severity per service, from evidence in its result (README: the table).

The class names the worst thing we *showed*, not what a context list suggests: a Q/R FIND
context accepted is an open door (medium); identifiers with PHI actually returned make it
critical; a C-MOVE processed for an unknown destination, or C-GET next to a readable archive,
makes it high. Storage is the one exception where acceptance *is* the evidence: an accepted
Storage context is the SCP's promise to take instances from us, and we never test it by
storing — ``writable`` (high); with studies listed over Q/R as well, a stranger can find
existing studies and write into them: ``tamper-capable`` (critical).
"""

from __future__ import annotations

from collections.abc import Mapping

from pacsaudit.model import (
    AePolicy,
    Exposure,
    ExposureClass,
    HttpResult,
    MoveCheck,
    Retrieval,
    Severity,
    StorageCheck,
    WorklistExposure,
)

SEVERITY_OF: dict[ExposureClass, Severity] = {
    ExposureClass.TAMPER_CAPABLE: Severity.CRITICAL,
    ExposureClass.PHI_READABLE: Severity.CRITICAL,
    ExposureClass.WRITABLE: Severity.HIGH,
    ExposureClass.RETRIEVABLE: Severity.HIGH,
    ExposureClass.OPEN_ASSOCIATION: Severity.MEDIUM,
    ExposureClass.AE_ENFORCED: Severity.LOW,
    ExposureClass.ANONYMOUS_ACCESS: Severity.MEDIUM,
    ExposureClass.AUTH_REQUIRED: Severity.LOW,
    ExposureClass.TLS_ONLY: Severity.INFO,
    ExposureClass.CLOSED: Severity.INFO,
    ExposureClass.COMPROMISED: Severity.CRITICAL,
    ExposureClass.MANAGEMENT_EXPOSED: Severity.MEDIUM,
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
    storage: StorageCheck | None = None,
    worklist: WorklistExposure | None = None,
) -> ExposureClass:
    writable = storage is not None and bool(storage.accepted)
    listed = exposure is not None and ((exposure.studies or 0) > 0 or (exposure.patients or 0) > 0)
    if writable and listed:
        return ExposureClass.TAMPER_CAPABLE
    if (exposure is not None and any(n > 0 for n in exposure.phi_attributes.values())) or (
        worklist is not None and any(n > 0 for n in worklist.phi_attributes.values())
    ):
        return ExposureClass.PHI_READABLE
    if writable:
        return ExposureClass.WRITABLE
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


def http_exposure_class(result: HttpResult) -> ExposureClass:
    """A web service's class, by the same yardstick as a DICOM service's.

    PHI attributes in a listing (QIDO-RS, Orthanc's REST) make it ``phi-readable``; an imaging
    API that lists studies, or Orthanc's ``/statistics`` counting studies, without a login makes
    it ``retrievable`` (the same API serves the instances: Orthanc's ``/instances/{id}/file``,
    WADO-RS) — the HTTP twin of C-GET next to a populated archive. An imaging API or viewer
    reachable without a login, nothing counted, is ``anonymous-access``; one that asked for
    credentials everywhere we looked is ``auth-required``; an HTTP server with nothing imaging
    recognised is ``closed``. A shipped default credential that worked counts as no login.
    An open directory listing or WebDAV folder (``listing``) is judged as the file share it is,
    and the worse of the two classes is the service's; a listing page recognised but not walked
    (``--depth`` below exposure) is ``anonymous-access``. A NAS administration page
    (``management``) makes it at least ``management-exposed``.
    """
    klass = _http_api_class(result)
    if result.management is not None and SEVERITY_OF[klass].rank < Severity.MEDIUM.rank:
        klass = ExposureClass.MANAGEMENT_EXPOSED
    share = result.listing
    unwalked = share is None and result.listing_format not in (None, "webdav")
    if unwalked and SEVERITY_OF[klass].rank < Severity.MEDIUM.rank:
        return ExposureClass.ANONYMOUS_ACCESS  # a listing page, not walked (identify depth)
    if share is not None:
        listed = fileshare_exposure_class(
            anonymous=share.anonymous, dicom_files=share.dicom_files, phi=share.phi_attributes
        )
        if SEVERITY_OF[listed].rank > SEVERITY_OF[klass].rank:
            return listed
    return klass


def _http_api_class(result: HttpResult) -> ExposureClass:
    exposure = result.exposure
    if exposure is not None and any(n > 0 for n in exposure.phi_attributes.values()):
        return ExposureClass.PHI_READABLE
    defaults = result.credentials is not None and result.credentials.accepted_user is not None
    orthanc = result.orthanc
    orthanc_open = orthanc is not None and (not orthanc.auth_required or defaults)
    stats = orthanc.statistics if orthanc is not None else None
    if orthanc_open and stats is not None and ((stats.studies or 0) + (stats.instances or 0)) > 0:
        return ExposureClass.RETRIEVABLE
    if exposure is not None and (exposure.studies or 0) > 0:
        return ExposureClass.RETRIEVABLE
    if orthanc_open or any(d.answered for d in result.dicomweb):
        return ExposureClass.ANONYMOUS_ACCESS
    if (orthanc is not None and orthanc.auth_required) or any(d.protected for d in result.dicomweb):
        return ExposureClass.AUTH_REQUIRED
    if any(not a.protected for a in result.apps):
        return ExposureClass.ANONYMOUS_ACCESS
    if result.apps:
        return ExposureClass.AUTH_REQUIRED
    return ExposureClass.CLOSED


def fileshare_exposure_class(
    *, anonymous: bool, dicom_files: int, phi: Mapping[str, int]
) -> ExposureClass:
    """The README's classes for file shares, consistent with the DICOM probe's:
    PHI read from a DICOM header → phi-readable (critical); DICOM files anyone can fetch but
    no PHI sampled → retrievable (high); an anonymous listing without DICOM → anonymous-access
    (medium); anonymous and guest access refused → auth-required (low)."""
    if not anonymous:
        return ExposureClass.AUTH_REQUIRED
    if any(n > 0 for n in phi.values()):
        return ExposureClass.PHI_READABLE
    if dicom_files > 0:
        return ExposureClass.RETRIEVABLE
    return ExposureClass.ANONYMOUS_ACCESS


def severity_at_least(severity: Severity | None, threshold: Severity) -> bool:
    return severity is not None and severity.rank >= threshold.rank
