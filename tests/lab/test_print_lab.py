"""DCMTK's real Basic Grayscale Print SCP (``dcmprscp``, Debian's dcmpstat.cfg): a print server,
named by behaviour — same DCMTK identifiers as storescp, but Print granted and no Storage SOP
class — and without the flaws of DCMTK's storage code, which it does not serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsaudit.intel.knowledge import knowledge
from pacsaudit.model import AccessTier, DeviceClass, ExposureClass
from store_servers import dcmprscp, files_under, scan, storescp

pytestmark = pytest.mark.lab


def _scopes(cves: list[str]) -> set[str]:
    by_id = {c.id: c.scope for c in knowledge().cves}
    return {by_id[c] for c in cves}


def test_dcmprscp_is_a_print_server_told_from_storescp(tmp_path: Path) -> None:
    with dcmprscp(tmp_path / "dcmprscp") as server:
        r = scan(server.port)
        spooled = files_under(server.folder)
    assert r.toolkit == "DCMTK"
    assert r.implementation_version_name == "OFFIS_DCMTK_367"
    assert r.accepted_contexts == ["Verification"]
    assert r.storage is not None
    assert r.storage.accepted == []
    assert r.storage.unanswered == []
    assert "BasicGrayscalePrintManagementMeta" in r.storage.services_accepted
    assert r.device_class is DeviceClass.PRINT_SERVER
    assert r.product == "DCMTK dcmprscp"
    assert any("Basic Grayscale Print" in e for e in r.product_evidence)
    assert r.access_tier is AccessTier.NONE  # Debian's printer takes any called AE title
    assert r.exposure_class is ExposureClass.OPEN_ASSOCIATION
    assert r.cves  # DCMTK 3.6.7's association-level flaws apply to any of its servers
    assert "storage" not in _scopes(r.cves)
    assert spooled == []  # nothing was printed: the Print context was released unused

    # The same toolkit version accepting storage gets the storage flaws: the scope decides.
    with storescp(tmp_path / "storescp") as store:
        s = scan(store.port)
    assert s.product == "DCMTK storescp"
    assert "storage" in _scopes(s.cves)
    assert set(r.cves) < set(s.cves)
