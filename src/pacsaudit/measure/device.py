"""What kind of DICOM node answered, and how hard it was to be let in (issue 13, part 3).

Both are read off facts the probe recorded — the contexts accepted on the main association,
the storage check's answers, the AE-title policy — and decided once, in the classify stage.
The device class is conservative: a surface that several kinds of node share (Verification
only; storage alone, which routers, viewers' receivers and archive front ends all offer)
is ``unknown``, with the evidence saying why.
"""

from __future__ import annotations

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
VIEWERS = frozenset({"OsiriX", "Horos", "Weasis", "RadiAnt", "MicroDicom"})
"""Products (as the identify stage names them) that are viewers or workstations."""
MODALITIES: frozenset[str] = frozenset()
"""Products that are acquisition devices: none of the shipped fingerprints names one yet (a
vendor's implementation UID root covers its archives and its scanners alike)."""

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


def device_class(result: DicomResult, product: str | None) -> tuple[DeviceClass, str]:
    """The device class and the evidence for it, from the accepted surface."""
    named = product or result.toolkit
    if named in VIEWERS:
        return DeviceClass.VIEWER, f"implementation identifiers name {named}"
    if named in MODALITIES:
        return DeviceClass.MODALITY, f"implementation identifiers name {named}"
    contexts = set(result.accepted_contexts)
    storage = result.storage
    stores = bool(storage and storage.accepted)
    services = set(storage.services_accepted) if storage else set()
    finds = bool(contexts & _FIND)
    if finds and contexts & _RETRIEVE:
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
    return DeviceClass.UNKNOWN, why
