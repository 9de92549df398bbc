"""Device classes and access tiers on surfaces no lab server shows (print, a forwarding
router, a named viewer); the real servers' are asserted in tests/lab/test_device_lab.py."""

from __future__ import annotations

import json
from importlib import resources

import msgspec
import pytest

from pacsaudit.intel.knowledge import DATA_FILE, knowledge
from pacsaudit.measure.device import access_tier, device_class
from pacsaudit.model import AccessTier, AePolicy, DeviceClass, DicomResult, StorageCheck


def surface(contexts: list[str], stored: list[str] = (), services: list[str] = ()) -> DicomResult:  # type: ignore[assignment]
    storage = StorageCheck(accepted=list(stored), services_accepted=list(services))
    return DicomResult(accepted_contexts=contexts, storage=storage)


@pytest.mark.parametrize(
    ("result", "product", "expected"),
    [
        (
            surface(["Verification"], services=["BasicGrayscalePrintManagementMeta"]),
            None,
            DeviceClass.PRINT_SERVER,
        ),
        (
            surface(["Verification"], ["CTImageStorage"], ["StorageCommitmentPushModel"]),
            None,
            DeviceClass.ROUTER,
        ),
        (surface(["Verification"], ["CTImageStorage"]), "Horos", DeviceClass.VIEWER),
        (surface(["Verification"], ["CTImageStorage"]), None, DeviceClass.UNKNOWN),
        (surface(["Verification"]), None, DeviceClass.UNKNOWN),
        (surface(["StudyRootQueryRetrieveInformationModelFind"]), None, DeviceClass.UNKNOWN),
    ],
)
def test_device_class_is_conservative(
    result: DicomResult, product: str | None, expected: DeviceClass
) -> None:
    klass, evidence = device_class(result, product)
    assert klass is expected
    assert evidence


def test_access_tiers_follow_the_policy() -> None:
    assert access_tier(AePolicy.ANY_CALLED_AE) is AccessTier.NONE
    for weak in (AePolicy.CALLED_AE_KNOWN_DEFAULT, AePolicy.GUESSABLE, AePolicy.CALLED_AE_REVEALED):
        assert access_tier(weak) is AccessTier.WEAK
    for strong in (AePolicy.CALLED_AE_ENFORCED, AePolicy.CALLING_AE_ENFORCED):
        assert access_tier(strong) is AccessTier.STRONG
    assert access_tier(AePolicy.REJECTS_ALL) is AccessTier.UNKNOWN


SIEMENS_MR = "1.3.12.2.1107.5.2"
"""The class UID Siemens MR software writes (data file: modalities → siemens_mr_syngo)."""


def from_device(result: DicomResult, uid: str = SIEMENS_MR) -> DicomResult:
    return msgspec.structs.replace(result, implementation_class_uid=uid)


@pytest.mark.parametrize(
    "result",
    [
        surface(["Verification"]),
        surface(["Verification"], ["MRImageStorage"]),
        surface(["Verification"], ["MRImageStorage"], ["StorageCommitmentPushModel"]),
        surface(["Verification", "StudyRootQueryRetrieveInformationModelFind"]),
    ],
)
def test_a_device_uid_on_a_modalitys_surface_is_a_modality(result: DicomResult) -> None:
    klass, evidence = device_class(from_device(result), None)
    assert klass is DeviceClass.MODALITY
    assert "Siemens MR" in evidence
    assert SIEMENS_MR in evidence


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            surface(
                [
                    "StudyRootQueryRetrieveInformationModelFind",
                    "StudyRootQueryRetrieveInformationModelMove",
                ]
            ),
            DeviceClass.ARCHIVE,
        ),
        (surface(["ModalityWorklistInformationModelFind"]), DeviceClass.WORKLIST_BROKER),
        (
            surface(["Verification"], services=["ModalityPerformedProcedureStep"]),
            DeviceClass.UNKNOWN,
        ),
        (surface(["Verification"], services=["UnifiedProcedureStepPush"]), DeviceClass.UNKNOWN),
        (
            surface(["Verification"], services=["BasicGrayscalePrintManagementMeta"]),
            DeviceClass.PRINT_SERVER,
        ),
    ],
)
def test_a_device_uid_on_a_providers_surface_is_not_a_modality(
    result: DicomResult, expected: DeviceClass
) -> None:
    klass, _ = device_class(from_device(result), None)
    assert klass is expected


def test_a_device_uid_beside_a_honeypot_signal_is_not_a_modality() -> None:
    signal = "Siemens implementation class UID with pynetdicom's default max PDU 16382"
    klass, evidence = device_class(from_device(surface(["Verification"])), None, [signal])
    assert klass is DeviceClass.UNKNOWN
    assert evidence == (
        "Verification only; the implementation class UID of a Siemens MR device not taken: "
        "honeypot signals beside it"
    )


def test_a_makers_root_alone_is_not_a_modality() -> None:
    # Fujifilm's 1.2.840.113845.1.1 is Synapse, a PACS; a GE UID names no listed device
    for uid in ("1.2.840.113845.1.1", "1.2.840.113619.6.5", SIEMENS_MR + ".1"):
        klass, _ = device_class(from_device(surface(["Verification"]), uid), None)
        assert klass is DeviceClass.UNKNOWN


def test_every_modality_entry_has_sources_and_is_no_toolkit() -> None:
    raw = json.loads(resources.files("pacsaudit.data").joinpath(DATA_FILE).read_text("utf-8"))
    toolkits = knowledge().implementations
    assert len(knowledge().modalities) == len(raw["modalities"]) >= 6
    for e in raw["modalities"]:
        assert e["sources"], e["id"]
        assert all(s["ref"] and s["says"] for s in e["sources"]), e["id"]
        assert all(e["uid_exact"] in s["says"] for s in e["sources"][:1]), e["id"]
        assert not any(
            e["uid_exact"] in t.uid_exact
            or (t.uid_prefix is not None and e["uid_exact"].startswith(t.uid_prefix))
            for t in toolkits
        ), e["id"]
