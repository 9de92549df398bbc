"""Name the toolkit, the product where behaviour allows, the CVEs, and honeypot tells.

The Implementation Class UID names the toolkit, not always the product: Orthanc and DCMTK's
own servers both answer with DCMTK's identifiers. Where identifiers coincide, behaviour tells
them apart (the AE-title policy, the services offered, the maximum PDU), and every conclusion
carries its evidence so a reader can judge it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import msgspec

from pacsaudit.intel.knowledge import Implementation, knowledge
from pacsaudit.intel.versions import version_in_range

QR_SERVICES = frozenset(
    {
        "PatientRootQueryRetrieveInformationModelFind",
        "StudyRootQueryRetrieveInformationModelFind",
    }
)
_WORKLIST_ONLY = frozenset({"Verification", "ModalityWorklistInformationModelFind"})
"""What DCMTK's worklist SCP (wlmscpfs) accepts of the main association's contexts."""
_PRINT = "BasicGrayscalePrintManagementMeta"

SHORT_NAMES = {
    "dcmtk": "DCMTK",
    "orthanc": "DCMTK",
    "ctk_slicer": "DCMTK",
    "pynetdicom": "pynetdicom",
    "dcm4che3": "dcm4che",
    "dcm4che2": "dcm4che",
    "dcm4che14": "dcm4che",
    "rsna_ctp": "RSNA CTP",
    "fo_dicom": "fo-dicom",
    "gdcm": "GDCM",
    "conquest": "Conquest",
    "clearcanvas": "ClearCanvas",
    "horos": "Horos/OsiriX",
    "mergecom3": "MergeCOM-3",
    "fujifilm_synapse": "Fujifilm Synapse",
    "go_dicom": "go-netdicom",
}


def short_name(entry: Implementation) -> str:
    return SHORT_NAMES.get(entry.id) or entry.toolkit.split(" (", 1)[0]


class Toolkit(msgspec.Struct, frozen=True):
    name: str | None
    version: str | None
    entry: Implementation | None


@functools.lru_cache(maxsize=1024)
def identify_toolkit(class_uid: str | None, version_name: str | None) -> Toolkit:
    """Longest matching UID wins (exact before prefix); the version comes from the version
    name, else from a UID that encodes it.

    Cached: a pure function of two strings, and a scan meets the same few dozen toolkit
    builds over and over (the result is immutable; an LRU bound keeps odd peers from growing
    the cache)."""
    entries = knowledge().implementations
    best: Implementation | None = None
    best_len = -1
    for e in entries:
        if class_uid and class_uid in e.uid_exact:
            best, best_len = e, 10_000
            break
        prefix = e.uid_prefix
        if class_uid and prefix and class_uid.startswith(prefix) and len(prefix) > best_len:
            best, best_len = e, len(prefix)
    candidates = [best] if best is not None else list(entries)
    version: str | None = None
    for e in candidates:
        if version_name and e.version_regex is not None:
            m = e.version_regex.match(version_name.strip())
            if m:
                version = e.version_format.format(*m.groups()) if m.groups() else None
                best = best or e
                break
    return Toolkit(short_name(best) if best else None, version, best)


class Verdict(msgspec.Struct):
    product: str | None = None
    product_evidence: list[str] = msgspec.field(default_factory=list)
    honeypot_evidence: list[str] = msgspec.field(default_factory=list)
    promiscuous_evidence: str | None = None
    """Set where a made-up SOP class was accepted and nothing else points to a honeypot."""


def judge(
    *,
    toolkit: Toolkit,
    class_uid: str | None,
    version_name: str | None,
    max_pdu: int | None,
    any_called_ae: bool,
    accepted_services: frozenset[str],
    accepts_unknown_sop_class: bool | None,
    storage_accepted: frozenset[str] | None = None,
    services_accepted: frozenset[str] = frozenset(),
) -> Verdict:
    """``storage_accepted``: the Storage SOP classes the storage check's associations were
    granted (``None`` where it did not run); ``services_accepted``: the workflow services
    (MPPS, Storage Commitment, Print, UPS) they were granted."""
    v = Verdict()
    tk = toolkit.entry.id if toolkit.entry else None
    # Honeypot tells (data/dicom_fingerprints.json: honeypots, fingerprinting_notes).
    if class_uid is None and max_pdu == 4_194_304:
        v.honeypot_evidence.append(
            "no Implementation Class UID and max PDU 4194304 (dicompot, also in T-Pot)"
        )
    if tk == "pynetdicom" and (version_name or "").strip().upper() == "ORTHANC":
        v.honeypot_evidence.append("version name ORTHANC on a pynetdicom class UID (DICOMHawk)")
    if tk == "pynetdicom" and max_pdu == 65_536 and any_called_ae:
        v.honeypot_evidence.append("pynetdicom with max PDU 65536 accepting any AE (DICOMHawk)")
    if class_uid == "1.2.276.0.7230010.3.0.3.6.2" and max_pdu == 16_382:
        v.honeypot_evidence.append("DCMTK 3.6.2 identifiers with pynetdicom's max PDU (DICOMHawk)")
    if accepts_unknown_sop_class:
        # Alone it shows a promiscuous SCP, not a honeypot: DCMTK's storescp -pm is a real
        # server that accepts any SOP class. Only beside another tell is it honeypot evidence.
        if v.honeypot_evidence:
            v.honeypot_evidence.append(
                "accepted a presentation context for a SOP class that exists nowhere"
            )
        else:
            v.promiscuous_evidence = (
                "accepted a presentation context for a SOP class that exists nowhere, with no "
                "honeypot tell (DCMTK storescp -pm accepts any SOP class)"
            )
    # Products behind shared identifiers.
    if tk in ("dcmtk", "orthanc"):
        if any_called_ae and accepted_services & QR_SERVICES:
            v.product = "Orthanc"
            v.product_evidence.append(
                "DCMTK identifiers, any called AE title accepted and Query/Retrieve offered: "
                "Orthanc's default (dcmqrscp always checks the called AE title)"
            )
        elif (
            accepted_services == frozenset({"Verification"})
            and storage_accepted is not None
            and not storage_accepted
            and _PRINT in services_accepted
        ):
            v.product = "DCMTK dcmprscp"
            v.product_evidence.append(
                "DCMTK identifiers, Verification and Basic Grayscale Print only, no Storage SOP "
                "class accepted (DCMTK's print SCP; storescp accepts every standard one)"
            )
        elif (
            any_called_ae
            and accepted_services == frozenset({"Verification"})
            and storage_accepted is not None
            and not storage_accepted
        ):
            v.product = "DCMTK-based server"
            v.product_evidence.append(
                "DCMTK identifiers, Verification only and no Storage SOP class accepted: not "
                "storescp (which accepts every standard one); the product is not told apart"
            )
        elif any_called_ae and accepted_services == frozenset({"Verification"}):
            v.product = "DCMTK storescp"
            v.product_evidence.append(
                "DCMTK identifiers, any called AE accepted, Verification only of our contexts"
            )
        elif accepted_services == _WORKLIST_ONLY:
            v.product = "DCMTK wlmscpfs"
            v.product_evidence.append(
                "DCMTK identifiers, Verification and Modality Worklist only of our contexts"
            )
        else:
            v.product = "DCMTK-based server"
            v.product_evidence.append("DCMTK identifiers; the product is not told apart")
    elif toolkit.name is not None:
        v.product = toolkit.name
        v.product_evidence.append("named by its Implementation Class UID / Version Name")
    return v


_QR_ALL = QR_SERVICES | {
    "PatientRootQueryRetrieveInformationModelMove",
    "StudyRootQueryRetrieveInformationModelMove",
    "PatientRootQueryRetrieveInformationModelGet",
    "StudyRootQueryRetrieveInformationModelGet",
}
_WORKLIST = frozenset({"ModalityWorklistInformationModelFind"})


def served_scopes(accepted_contexts: Iterable[str], product: str | None) -> frozenset[str]:
    """The CVE scopes a DICOM server's accepted surface shows: always ``server``; ``storage``
    where a Storage SOP class was accepted; ``worklist`` where Modality Worklist FIND was;
    ``query-retrieve`` where Query/Retrieve was and the product is not Orthanc (which answers
    with its own code, not DCMTK's dcmqrdb, though it reports DCMTK's identifiers)."""
    contexts = frozenset(accepted_contexts)
    scopes = {"server"}
    if any(name.endswith("Storage") for name in contexts):
        scopes.add("storage")
    if contexts & _WORKLIST:
        scopes.add("worklist")
    if contexts & _QR_ALL and product != "Orthanc":
        scopes.add("query-retrieve")
    return frozenset(scopes)


SERVER_SCOPES = frozenset({"server", "storage", "query-retrieve", "worklist"})
"""The CVE scopes a network service can show (``client`` and ``local-tool`` never apply)."""


def cves_for(
    product: str, version: str | None, serves: frozenset[str] = frozenset({"server"})
) -> list[str]:
    """CVE ids whose affected range includes ``version`` (possibly affected: distributions
    backport fixes without changing the reported version), among those whose scope the
    server was seen to serve: ``serves`` holds ``server`` and what the accepted surface adds
    (``storage``, ``query-retrieve``, ``worklist``), so a worklist server's flaw is not
    listed for a storage SCP of the same version."""
    if not version:
        return []
    return [
        c.id
        for c in knowledge().cves
        if c.product.lower() == product.lower()
        and c.scope in serves
        and version_in_range(
            version,
            introduced=c.introduced,
            fixed_in=c.fixed_in,
            last_affected=c.last_affected,
            affected_versions=c.affected_versions,
        )
    ]
