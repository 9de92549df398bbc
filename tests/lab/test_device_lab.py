"""Device classes and access tiers of real servers (the classify stage's part 3 of issue 13):
storescp, wlmscpfs found with the shipped AE-title list, Debian's Orthanc, a guarded Orthanc."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsaudit.model import AccessTier, AePolicy, DeviceClass
from pacsaudit.probes.dicom.ae_guess import AeGuessOptions, shipped_lists
from store_servers import debian_orthanc, scan, storescp, wlmscpfs, write_worklist

pytestmark = pytest.mark.lab


def test_storescp_is_storage_only_unknown_class_and_open_to_anyone(tmp_path: Path) -> None:
    with storescp(tmp_path / "storescp") as server:
        r = scan(server.port)
    assert r.access_tier is AccessTier.NONE
    assert r.device_class is DeviceClass.UNKNOWN  # a router, a viewer, a front end alike
    assert r.device_class_evidence is not None
    assert "storage only" in r.device_class_evidence


def test_wlmscpfs_is_a_worklist_broker_whose_sample_title_is_guessable(tmp_path: Path) -> None:
    db = tmp_path / "db"
    write_worklist(db / "OFFIS", steps=2, patients=1)
    called, calling = shipped_lists()
    guess = AeGuessOptions(enabled=True, called=called, calling=calling, interval=0.0)
    with wlmscpfs(tmp_path / "wlmscpfs", db) as server:
        refused = scan(server.port, check_storage=False)
        found = scan(server.port, guess=guess)
    assert refused.ae_policy is AePolicy.CALLED_AE_ENFORCED
    assert refused.access_tier is AccessTier.STRONG  # as far as our two titles went
    assert found.ae_policy is AePolicy.GUESSABLE
    assert found.accepted_called_ae == "OFFIS"
    assert found.access_tier is AccessTier.WEAK
    assert found.device_class is DeviceClass.WORKLIST_BROKER


def test_debian_orthanc_is_an_archive_and_a_guarded_one_strong(tmp_path: Path) -> None:
    with debian_orthanc(tmp_path / "open") as server:
        r = scan(server.port)
    assert r.device_class is DeviceClass.ARCHIVE
    assert r.access_tier is AccessTier.NONE
    with debian_orthanc(tmp_path / "guarded", DicomAet="LABARCH7", DicomCheckCalledAet=True) as g:
        locked = scan(g.port)
    assert locked.access_tier is AccessTier.STRONG
    assert locked.device_class is DeviceClass.UNKNOWN
