"""Device classes and access tiers on surfaces no lab server shows (print, a forwarding
router, a named viewer); the real servers' are asserted in tests/lab/test_device_lab.py."""

from __future__ import annotations

import pytest

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
