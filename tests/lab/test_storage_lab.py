"""Storage exposure against real SCPs, proven without storing: the store folders stay empty.

DCMTK's storescp as shipped and in promiscuous mode (``-pm``), and Orthanc from Debian's own
configuration (which accepts C-STORE from anyone and aborts C-FIND from unknown modalities).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pacsaudit.model import ExposureClass, FlagKind, Severity
from pacsaudit.probes.dicom import uids
from store_servers import debian_orthanc, files_under, scan, storescp

ALL_STORAGE = [uids.KEYWORDS[u] for u in uids.STORAGE_CLASSES]


@pytest.mark.lab
def test_storescp_is_writable_and_nothing_is_stored(tmp_path: Path) -> None:
    with storescp(tmp_path / "storescp") as server:
        r = scan(server.port)
        assert files_under(server.folder) == []
    assert r.storage is not None
    assert r.storage.accepted == ALL_STORAGE
    # answered on the main association: no association of the check's own
    assert (r.storage.associations, r.storage.shared) == (0, True)
    assert r.storage.services_accepted == []  # storescp offers no MPPS, commitment, print, UPS
    assert r.storage.scp_role_accepted == []  # nor would it send us instances (no C-GET)
    assert r.exposure_class is ExposureClass.WRITABLE
    assert r.severity is Severity.HIGH
    assert r.product == "DCMTK storescp"
    assert r.accepts_unknown_sop_class is False
    assert r.flags == []


@pytest.mark.lab
def test_promiscuous_storescp_is_promiscuous_not_a_honeypot(tmp_path: Path) -> None:
    with storescp(tmp_path / "storescp-pm", promiscuous=True) as server:
        r = scan(server.port)
        assert files_under(server.folder) == []
    assert r.accepts_unknown_sop_class is True
    kinds = [f.kind for f in r.flags]
    assert kinds == [FlagKind.PROMISCUOUS]
    assert FlagKind.LIKELY_HONEYPOT not in kinds
    assert r.storage is not None
    assert r.storage.accepted == ALL_STORAGE
    assert r.exposure_class is ExposureClass.WRITABLE
    assert r.severity is Severity.HIGH


@pytest.mark.lab
def test_debian_orthanc_takes_store_from_anyone_and_stores_nothing(tmp_path: Path) -> None:
    with debian_orthanc(tmp_path / "orthanc") as server:
        r = scan(server.port)
        assert files_under(server.folder) == []
        stats = httpx.get(f"http://127.0.0.1:{server.http_port}/statistics", timeout=10).json()
        assert stats["CountInstances"] == 0
    assert r.storage is not None
    assert set(r.storage.accepted) >= {"CTImageStorage", "MRImageStorage", "RTPlanStorage"}
    assert r.storage.services_accepted == ["StorageCommitmentPushModel"]
    # Role Selection: Orthanc also grants us the SCP role — it would send instances over C-GET
    assert set(r.storage.scp_role_accepted) == set(r.storage.accepted)
    assert r.exposure_class is ExposureClass.WRITABLE
    assert r.severity is Severity.HIGH


@pytest.mark.lab
def test_debian_orthanc_aborting_c_find_gives_unknown_counts_not_zero(tmp_path: Path) -> None:
    """Debian's Orthanc aborts C-FIND from a modality it does not know: nothing was counted,
    so nothing is 0 — patients, studies and images are null, each with its reason."""
    with debian_orthanc(tmp_path / "orthanc") as server:
        r = scan(server.port)
    e = r.exposure
    assert e is not None
    assert (e.patients, e.studies, e.images) == (None, None, None)
    assert e.unknown == {
        "patients": "peer-aborted",
        "studies": "not-queried",
        "images": "not-queried",
    }
    assert e.error is not None
    assert e.error.kind == "peer-aborted"
