"""Device classes and access tiers of real servers (the classify stage's part 3 of issue 13):
storescp, wlmscpfs found with the shipped AE-title list, Debian's Orthanc, a guarded Orthanc,
and a real pynetdicom SCP answering under a Siemens MR's Implementation Class UID — with a max
PDU of its own (a modality), with pynetdicom's default (a honeypot signal) and with DICOMHawk's
siemens_ct persona (a likely honeypot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsaudit.model import AccessTier, AePolicy, DeviceClass, FlagKind
from pacsaudit.probes.dicom import uids
from pacsaudit.probes.dicom.ae_guess import AeGuessOptions, shipped_lists
from store_servers import (
    debian_orthanc,
    pynetdicom_scp,
    scan,
    storescp,
    wlmscpfs,
    write_worklist,
)

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


SIEMENS_MR = "1.3.12.2.1107.5.2"
MR_SURFACE = (uids.VERIFICATION, uids.MR_IMAGE_STORAGE)
OWN_PDU = 28_672
"""Not any toolkit's default (pynetdicom 16382, DCMTK 16384, DICOMHawk 65536)."""


def test_a_siemens_mr_class_uid_on_its_own_pdu_size_is_a_modality() -> None:
    with pynetdicom_scp(
        MR_SURFACE, class_uid=SIEMENS_MR, version_name="MR_VB15A", max_pdu=OWN_PDU
    ) as port:
        r = scan(port)
    assert r.implementation_class_uid == SIEMENS_MR
    assert r.attempts[-1].max_pdu_length == OWN_PDU
    assert r.storage is not None
    assert r.storage.accepted == ["MRImageStorage"]
    assert r.flags == []
    assert r.device_class is DeviceClass.MODALITY
    assert r.device_class_evidence is not None
    assert "Siemens MR device" in r.device_class_evidence


def test_a_siemens_mr_class_uid_on_pynetdicoms_pdu_size_is_a_signal_not_a_modality() -> None:
    with pynetdicom_scp(MR_SURFACE, class_uid=SIEMENS_MR, version_name="MR_VB15A") as port:
        r = scan(port)
    assert [(f.kind, f.evidence) for f in r.flags] == [
        (
            FlagKind.HONEYPOT_SIGNAL,
            "Siemens implementation class UID with pynetdicom's default max PDU 16382",
        )
    ]
    assert r.device_class is DeviceClass.UNKNOWN
    assert r.device_class_evidence is not None
    assert r.device_class_evidence.endswith("not taken: honeypot signals beside it")


def test_dicomhawks_siemens_persona_is_a_likely_honeypot_not_a_modality() -> None:
    with pynetdicom_scp(MR_SURFACE, class_uid=SIEMENS_MR, version_name="syngo CT VA48A") as port:
        r = scan(port)
    assert {f.kind for f in r.flags} == {FlagKind.LIKELY_HONEYPOT}
    assert r.device_class is DeviceClass.UNKNOWN


def test_a_modality_uid_without_a_vendor_root_on_pynetdicoms_pdu_is_a_signal() -> None:
    # SonoSite's device UID is not among the roots DICOMHawk borrows: the data file's
    # modality entries count as a maker's identifiers for the honeypot signal as well
    with pynetdicom_scp(MR_SURFACE, class_uid="1.2.840.114340.3") as port:
        r = scan(port)
    assert [f.evidence for f in r.flags] == [
        "SonoSite implementation class UID with pynetdicom's default max PDU 16382"
    ]
    assert r.device_class is DeviceClass.UNKNOWN
