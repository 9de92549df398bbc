"""What kind of DICOM node answered, and how hard it was to be let in (issue 13, part 3).

Both are read off facts the probe recorded — the contexts accepted on the main association,
the storage check's answers, the AE-title policy — and decided once, in the classify stage.
The device class is conservative: a surface that several kinds of node share (Verification
only; storage alone, which routers, viewers' receivers and archive front ends all offer)
is ``unknown``, with the evidence saying why. A ``modality`` is named by its Implementation
Class UID where that UID was read from files an acquisition device wrote
(``data/dicom_fingerprints.json`` → ``modalities``, each with its source), no honeypot signal
stands beside it and the surface is not a provider's (archive, worklist, MPPS, UPS, print):
a maker's whole UID root is not enough, since it covers the maker's archives too.
"""

from __future__ import annotations

from collections.abc import Sequence

from pacsaudit.intel.knowledge import ModalityIdentity, modality_identity
from pacsaudit.model import AccessTier, AePolicy, DeviceClass, DicomResult

_FIND = frozenset(
    {
        "PatientRootQueryRetrieveInformationModelFind",
        "StudyRootQueryRetrieveInformationModelFind",
    }
)
_RETRIEVE = frozenset(
    {
        "PatientRootQueryRetrieveInformationModelMove",
        "StudyRootQueryRetrieveInformationModelMove",
        "PatientRootQueryRetrieveInformationModelGet",
        "StudyRootQueryRetrieveInformationModelGet",
    }
)
_WORKLIST = "ModalityWorklistInformationModelFind"
_PRINT = "BasicGrayscalePrintManagementMeta"
_COMMITMENT = "StorageCommitmentPushModel"
_PROVIDER_ONLY = frozenset(
    {
        "ModalityPerformedProcedureStep",
        "UnifiedProcedureStepPush",
        "UnifiedProcedureStepWatch",
        "UnifiedProcedureStepPull",
        "UnifiedProcedureStepEvent",
    }
)
"""Services a modality uses and a RIS, broker or archive provides: accepted as SCP (as print
is, by a printer), they speak against an acquisition device (Philips' MR R1.5 conformance
statement, an "embedded modality system": worklist, MPPS, printing on a remote printer)."""
VIEWERS = frozenset({"OsiriX", "Horos", "Weasis", "RadiAnt", "MicroDicom"})
"""Products (as the identify stage names them) that are viewers or workstations."""

_TIERS = {
    AePolicy.ANY_CALLED_AE: AccessTier.NONE,
    AePolicy.CALLED_AE_KNOWN_DEFAULT: AccessTier.WEAK,
    AePolicy.GUESSABLE: AccessTier.WEAK,
    AePolicy.CALLED_AE_REVEALED: AccessTier.WEAK,
    AePolicy.CALLED_AE_ENFORCED: AccessTier.STRONG,
    AePolicy.CALLING_AE_ENFORCED: AccessTier.STRONG,
}


def access_tier(policy: AePolicy) -> AccessTier:
    """``none`` where any title is let in; ``weak`` where only a default, guessable or revealed
    one is; ``strong`` where every title we tried was refused as not recognised — "strong" as
    far as our titles went (``--guess-ae`` tries more)."""
    return _TIERS.get(policy, AccessTier.UNKNOWN)


def device_class(
    result: DicomResult, product: str | None, honeypot: Sequence[str] = ()
) -> tuple[DeviceClass, str]:
    """The device class and the evidence for it, from the accepted surface.

    ``honeypot``: the service's honeypot tells and signals; where there are any, a maker's
    device UID is not taken as a modality (DICOMHawk's personas borrow those UIDs)."""
    named = product or result.toolkit
    if named in VIEWERS:
        return DeviceClass.VIEWER, f"implementation identifiers name {named}"
    contexts = set(result.accepted_contexts)
    storage = result.storage
    stores = bool(storage and storage.accepted)
    services = set(storage.services_accepted) if storage else set()
    finds = bool(contexts & _FIND)
    archive = finds and bool(contexts & _RETRIEVE)
    device = modality_identity(result.implementation_class_uid)
    provider = _WORKLIST in contexts or bool(services & (_PROVIDER_ONLY | {_PRINT}))
    if device is not None and not honeypot and not archive and not provider:
        return DeviceClass.MODALITY, _modality_evidence(device)
    if archive:
        return DeviceClass.ARCHIVE, "Query/Retrieve FIND and MOVE or GET accepted"
    if _WORKLIST in contexts and not finds and not stores:
        return DeviceClass.WORKLIST_BROKER, "Modality Worklist only, no Query/Retrieve or storage"
    if _PRINT in services and not finds and not stores:
        return DeviceClass.PRINT_SERVER, "Basic Grayscale Print only, no Query/Retrieve or storage"
    if stores and _COMMITMENT in services and not finds:
        return DeviceClass.ROUTER, "storage and Storage Commitment, no Query/Retrieve"
    if stores and not finds:
        why = "storage only: a router, a viewer's receiver or an archive front end alike"
    elif finds:
        why = "Query/Retrieve FIND without MOVE or GET"
    elif storage is None and not contexts:
        why = "nothing accepted"
    else:
        why = "Verification only" if contexts <= {"Verification"} else "no telling service"
    if device is not None and honeypot:
        why += f"; {_device_words(device)} not taken: honeypot signals beside it"
    return DeviceClass.UNKNOWN, why


def _device_words(device: ModalityIdentity) -> str:
    return f"the implementation class UID of a {device.vendor} {device.modality} device"


def _modality_evidence(device: ModalityIdentity) -> str:
    return (
        f"{_device_words(device)} ({device.uid}, read from files such a device wrote) and no "
        "Query/Retrieve archive, worklist, MPPS, UPS or print accepted; the maker's "
        "workstation on the same software would look alike"
    )
