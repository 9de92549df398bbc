"""The classify stage: what a finding's facts mean, decided once per finding.

Probes return what they saw — identifiers, accepted contexts, counts, what a walk met. This
stage turns those facts into the judgement that reports, notices and ``--fail-on`` read: the
exposure class and severity (rules in :mod:`pacsaudit.measure.severity`), the flags that keep
honeypots and demo data out of headline totals, the product behind shared identifiers, the
CVEs of a reported version, and the split of signs of compromise into findings of their own.
The dispatcher runs it on every finding it returns (:mod:`pacsaudit.probes.dispatch`); it is
a pure function of the finding, so running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from pacsaudit.intel.honeypot import honeypot_signals
from pacsaudit.intel.identify import cves_for, identify_toolkit, judge, served_scopes
from pacsaudit.intel.knowledge import knowledge
from pacsaudit.measure.device import access_tier, device_class
from pacsaudit.measure.severity import (
    SEVERITY_OF,
    dicom_exposure_class,
    fileshare_exposure_class,
    http_exposure_class,
)
from pacsaudit.model import (
    COMPROMISE_PROTOCOL,
    AePolicy,
    AssociationOutcome,
    CompromiseResult,
    DicomResult,
    Exposure,
    ExposureClass,
    FileShareResult,
    Finding,
    Flag,
    FlagKind,
    HttpResult,
    ManagementInterface,
    Severity,
    Status,
    StorageCheck,
)

DEMO_SHARE = 0.5
"""A server is flagged when at least this share of its studies match one marker."""


def classify(finding: Finding) -> Finding:
    """The finding with its judgement filled in from its facts (unchanged where there is
    nothing to judge: closed ports, errors without a result, unknown answers)."""
    result = finding.result
    judged: object = result
    if isinstance(result, DicomResult):
        judged = judge_dicom(finding.status, result)
    elif isinstance(result, HttpResult) and finding.status is Status.HTTP:
        judged = judge_http(result)
    elif isinstance(result, FileShareResult):
        judged = judge_fileshare(result)
    if judged is result:
        return finding
    return msgspec.structs.replace(finding, result=judged)


def classify_all(findings: Iterable[Finding]) -> list[Finding]:
    """Every finding of one target judged, and its signs of compromise split off."""
    return with_compromise_findings([classify(f) for f in findings])


def judge_http(result: HttpResult) -> HttpResult:
    """A web service's class and severity from what its pages and APIs answered."""
    klass = http_exposure_class(result)
    listing = judge_fileshare(result.listing) if result.listing is not None else None
    management = judge_management(result.management) if result.management is not None else None
    return msgspec.structs.replace(
        result,
        exposure_class=klass,
        severity=SEVERITY_OF[klass],
        listing=listing,
        management=management,
    )


NAS_CVE_BASIS = (
    "possibly affected: firmware version as the page shows it ({product} {firmware}), within "
    "the ranges the vendor's advisories state for that branch; a hotfix that leaves the "
    "version unchanged is invisible"
)


def judge_management(nas: ManagementInterface) -> ManagementInterface:
    """A NAS's firmware CVEs by the version its page shows (``data/nas_cves.json``), the
    ransomware families that used them, and its application flaws to check."""
    from pacsaudit.intel.nas import match_nas  # web findings only: a DICOM scan never loads it

    found = match_nas(nas.product, nas.firmware)
    cves = [c.id for c in found.cves]
    families = list(dict.fromkeys(f for c in found.cves for f in c.ransomware))
    basis = None
    if cves:
        basis = NAS_CVE_BASIS.format(product=nas.product, firmware=nas.firmware)
        used = [f"{c.id} by {', '.join(c.ransomware)}" for c in found.cves if c.ransomware]
        if used:
            basis += "; used by ransomware: " + "; ".join(used)
        kev = [c.id for c in found.cves if c.kev_ransomware_use and not c.ransomware]
        if kev:
            basis += "; CISA KEV records ransomware campaigns using " + ", ".join(kev)
    checks = [
        f"{c.id} ({c.component}" + (f", {', '.join(c.ransomware)})" if c.ransomware else ")")
        for c in found.app_checks
    ]
    return msgspec.structs.replace(
        nas, cves=cves, cve_basis=basis, ransomware=families, app_checks=checks
    )


def judge_fileshare(result: FileShareResult) -> FileShareResult:
    """A share's class and severity from what the anonymous walk could list and read."""
    klass = fileshare_exposure_class(
        anonymous=result.anonymous, dicom_files=result.dicom_files, phi=result.phi_attributes
    )
    return msgspec.structs.replace(result, exposure_class=klass, severity=SEVERITY_OF[klass])


def judge_dicom(status: Status, result: DicomResult) -> DicomResult:
    """A DICOM service's class, severity, flags, product and CVEs from what the association
    showed (the A-ASSOCIATE-AC, the contexts, the AE-title policy, the exposure counts)."""
    if (
        status is Status.ERROR
        and result.tls is not None
        and result.tls.client_certificate_requested
    ):
        return msgspec.structs.replace(
            result, exposure_class=ExposureClass.TLS_ONLY, severity=Severity.INFO
        )
    if status is not Status.DICOM:
        return result
    accepted = next((a for a in result.attempts if a.outcome is AssociationOutcome.ACCEPTED), None)
    toolkit = identify_toolkit(result.implementation_class_uid, result.implementation_version_name)
    verdict = judge(
        toolkit=toolkit,
        class_uid=result.implementation_class_uid,
        version_name=result.implementation_version_name,
        max_pdu=accepted.max_pdu_length if accepted else None,
        any_called_ae=result.ae_policy is AePolicy.ANY_CALLED_AE,
        accepted_services=frozenset(result.accepted_contexts),
        accepts_unknown_sop_class=result.accepts_unknown_sop_class,
        storage_accepted=_storage_answered(result.storage),
        services_accepted=frozenset(result.storage.services_accepted)
        if result.storage
        else frozenset(),
    )
    signals = honeypot_signals(result)
    promiscuous = verdict.promiscuous_evidence
    if promiscuous and signals:  # a made-up class accepted is a signal beside another
        signals.append(_NOWHERE_CLASS)
        promiscuous = None
    flags = honeypot_flags(verdict.honeypot_evidence, signals)
    if promiscuous:
        flags.append(Flag(FlagKind.PROMISCUOUS, promiscuous))
    if result.exposure is not None and result.exposure.non_conforming:
        flags.append(
            Flag(
                FlagKind.NON_CONFORMING,
                f"{result.exposure.non_conforming} C-FIND answers did not match the study or "
                "series queried (or lacked its UID): left out of the series and image counts",
            )
        )
    flags += data_marker_flags(result.exposure)
    cves: list[str] = []
    cve_basis = None
    if result.toolkit and result.toolkit_version:
        stored = result.storage.accepted if result.storage is not None else []
        serves = served_scopes([*result.accepted_contexts, *stored], verdict.product)
        cves = cves_for(result.toolkit, result.toolkit_version, serves)
        if cves:
            cve_basis = (
                f"{result.toolkit} {result.toolkit_version} as reported in the A-ASSOCIATE-AC; "
                "flaws of one server tool (worklist, Query/Retrieve, storage) only where that "
                "service was accepted; fixes backported by a distribution are invisible "
                "(possibly affected)"
            )
    klass = dicom_exposure_class(
        accepted=accepted is not None,
        ae_policy=result.ae_policy,
        exposure=result.exposure,
        retrieval=result.retrieval,
        storage=result.storage,
        worklist=result.worklist,
    )
    device, device_evidence = device_class(
        result, verdict.product, [*verdict.honeypot_evidence, *signals]
    )
    return msgspec.structs.replace(
        result,
        product=verdict.product,
        product_evidence=verdict.product_evidence,
        device_class=device,
        device_class_evidence=device_evidence,
        access_tier=access_tier(result.ae_policy),
        cves=cves,
        cve_basis=cve_basis,
        flags=flags,
        exposure_class=klass,
        severity=SEVERITY_OF[klass],
    )


_NOWHERE_CLASS = "accepted a presentation context for a SOP class that exists nowhere"


def _storage_answered(storage: StorageCheck | None) -> frozenset[str] | None:
    """The Storage SOP classes granted, where the storage check had every class answered;
    ``None`` where it did not run or some went unanswered (no telling what a peer refuses)."""
    if storage is None or storage.error is not None or storage.unanswered:
        return None
    if storage.associations == 0 and not storage.shared:
        return None  # no association answered it (the main one did not carry the classes)
    return frozenset(storage.accepted)


def honeypot_flags(tells: list[str], signals: list[str]) -> list[Flag]:
    """A strong tell, or two weak signals together, make ``likely-honeypot`` (every piece of
    evidence named); a lone weak signal stays a ``honeypot-signal``."""
    if tells or len(signals) >= 2:
        return [Flag(FlagKind.LIKELY_HONEYPOT, e) for e in (*tells, *signals)]
    return [Flag(FlagKind.HONEYPOT_SIGNAL, e) for e in signals]


def data_marker_flags(exposure: Exposure | None) -> list[Flag]:
    """``demo-data`` (or ``likely-honeypot``) where most studies carry one public sample set's
    markers (``data/markers``: TCIA's UID root, OsiriX samples, pydicom's test files…)."""
    if exposure is None or not exposure.data_markers or not exposure.studies:
        return []
    markers = {m.id: m for m in knowledge().markers}
    flags = []
    for marker_id, hits in exposure.data_markers.items():
        marker = markers.get(marker_id)
        if marker is None or hits < DEMO_SHARE * exposure.studies:
            continue
        kind = FlagKind.LIKELY_HONEYPOT if marker.kind == "honeypot" else FlagKind.DEMO_DATA
        evidence = f"{hits} of {exposure.studies} studies match {marker.name}"
        flags.append(Flag(kind, evidence, marker_id))
    return flags


def _share_of(finding: Finding) -> FileShareResult | None:
    """The share walk a finding holds: a file-share probe's, or a web listing's."""
    result = finding.result
    if isinstance(result, FileShareResult):
        return result
    if isinstance(result, HttpResult):
        return result.listing
    return None


def with_compromise_findings(findings: list[Finding]) -> list[Finding]:
    """Signs of compromise seen during a share's walk (FTP, SMB, rsync, a web listing) become
    a finding of their own, right after the share's, so that a miner never hides among
    exposure counts."""
    extra = [
        msgspec.structs.replace(
            f,
            protocol=COMPROMISE_PROTOCOL,
            status=Status.COMPROMISE,
            result=CompromiseResult(
                share_protocol=f.protocol,
                exposure_class=ExposureClass.COMPROMISED,
                severity=SEVERITY_OF[ExposureClass.COMPROMISED],
                indicators=list(share.indicators),
            ),
            error=None,
        )
        for f in findings
        if (share := _share_of(f)) is not None and share.indicators
    ]
    return findings + extra if extra else findings
