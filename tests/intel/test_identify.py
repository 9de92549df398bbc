"""Fingerprint knowledge: toolkits from identifiers, CVE ranges, honeypot tells, markers."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from pacsaudit.intel.identify import (
    SERVER_SCOPES,
    cves_for,
    identify_toolkit,
    judge,
    served_scopes,
)
from pacsaudit.intel.knowledge import GENERIC_UID_ROOTS, knowledge
from pacsaudit.intel.versions import version_in_range, version_key
from pacsaudit.measure.markers import MarkerTally


@pytest.mark.parametrize(
    ("uid", "name", "toolkit", "version"),
    [
        ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", "DCMTK", "3.6.7"),
        ("1.2.826.0.1.3680043.9.3811.3.0.4", "PYNETDICOM_304", "pynetdicom", "3.0.4"),
        ("1.2.40.0.13.1.3", "dcm4che-5.23.3", "dcm4che", "5.23.3"),
        ("1.3.6.1.4.1.30071.8", "fo-dicom 4.0.8", "fo-dicom", "4.0.8"),
        ("1.2.826.0.1.3680043.2.135.1066.101", "1.5.0/WIN32", "Conquest", "1.5.0"),
        ("1.2.276.0.7238010.5.0.3.5.4", "OSIRIX", "Horos/OsiriX", None),
        ("9.9.9", None, None, None),
    ],
)
def test_toolkits(uid: str, name: str | None, toolkit: str | None, version: str | None) -> None:
    t = identify_toolkit(uid, name)
    assert (t.name, t.version) == (toolkit, version)


def test_unverified_entries_never_name_a_product() -> None:
    assert all(i.id not in {"ge_healthcare", "siemens_syngo"} for i in knowledge().implementations)


def test_version_order() -> None:
    assert version_key("3.6.10") > version_key("3.6.9")
    assert version_key("1.12.0") > version_key("1.5.8")
    assert version_key("3.6.1a") > version_key("3.6.1")


@pytest.mark.parametrize(
    ("version", "rule", "affected"),
    [
        ("3.6.7", {"introduced": "0", "fixed_in": "3.6.8"}, True),
        ("3.6.8", {"introduced": "0", "fixed_in": "3.6.8"}, False),
        ("3.6.7", {"affected_versions": frozenset({"3.6.8"}), "fixed_in": "3.6.9"}, False),
        ("3.6.8", {"affected_versions": frozenset({"3.6.8"}), "fixed_in": "3.6.9"}, True),
        ("3.5.9", {"introduced": "3.6.0", "last_affected": "3.6.9"}, False),
        ("3.6.9", {"introduced": "3.6.0", "last_affected": "3.6.9"}, True),
        ("3.7.0", {"introduced": "3.6.0", "last_affected": "3.6.9"}, False),
    ],
)
def test_cve_ranges(version: str, rule: dict[str, object], affected: bool) -> None:
    args = {"introduced": None, "fixed_in": None, "last_affected": None}
    args.update(rule)
    args.setdefault("affected_versions", frozenset())
    assert version_in_range(version, **args) is affected  # type: ignore[arg-type]


def test_dcmtk_367_is_possibly_affected_by_the_path_traversal_where_it_stores() -> None:
    cves = cves_for("DCMTK", "3.6.7", frozenset({"server", "storage"}))
    assert "CVE-2022-2119" in cves  # fixed in 3.6.8, after the 3.6.7 tag
    assert "CVE-2015-8979" not in cves
    assert "CVE-2022-2119" not in cves_for("DCMTK", "3.6.7")  # C-STORE refused: unreachable
    assert cves_for("DCMTK", None) == []


def test_cves_by_component_follow_the_served_surface() -> None:
    verification = served_scopes(["Verification"], "DCMTK storescp")
    worklist = served_scopes(["Verification", "ModalityWorklistInformationModelFind"], None)
    assert verification == {"server"}
    assert worklist == {"server", "worklist"}
    storescp, wlmscpfs = (
        cves_for("DCMTK", "3.7.0", verification),
        cves_for("DCMTK", "3.7.0", worklist),
    )
    assert "CVE-2026-52868" not in storescp  # the worklist server's path traversal
    assert "CVE-2026-52868" in wlmscpfs
    assert "CVE-2026-35505" in storescp  # association handling: every DCMTK server
    for scopes in (verification, worklist, SERVER_SCOPES):
        found = cves_for("DCMTK", "3.7.0", scopes)
        assert "CVE-2026-50003" not in found  # DcmSCU's client-side flaw
        assert "CVE-2025-9732" not in cves_for("DCMTK", "3.6.9", scopes)  # dcm2img, a local tool


def test_orthanc_query_retrieve_is_not_dcmqrscp() -> None:
    qr = ["Verification", "StudyRootQueryRetrieveInformationModelFind"]
    assert "query-retrieve" in served_scopes(qr, "DCMTK-based server")
    assert "query-retrieve" not in served_scopes(qr, "Orthanc")
    assert "CVE-2021-41687" in cves_for("DCMTK", "3.6.6", served_scopes(qr, None))
    assert "CVE-2021-41687" not in cves_for("DCMTK", "3.6.6", served_scopes(qr, "Orthanc"))


def test_every_cve_has_a_known_scope() -> None:
    scopes = {c.scope for c in knowledge().cves}
    assert scopes <= SERVER_SCOPES | {"client", "local-tool"}


def test_orthanc_versions() -> None:
    assert "CVE-2025-0896" in cves_for("Orthanc", "1.5.7")
    assert "CVE-2025-0896" not in cves_for("Orthanc", "1.10.1")


def test_dicompot_tells() -> None:
    v = judge(
        toolkit=identify_toolkit(None, None),
        class_uid=None,
        version_name=None,
        max_pdu=4_194_304,
        any_called_ae=True,
        accepted_services=frozenset({"Verification"}),
        accepts_unknown_sop_class=True,
    )
    assert len(v.honeypot_evidence) == 2  # beside another tell, a made-up SOP class counts
    assert v.promiscuous_evidence is None


def test_a_made_up_sop_class_alone_is_promiscuous_not_a_honeypot() -> None:
    """DCMTK's storescp -pm accepts any SOP class: a real server, not a honeypot."""
    v = judge(
        toolkit=identify_toolkit("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367"),
        class_uid="1.2.276.0.7230010.3.0.3.6.7",
        version_name="OFFIS_DCMTK_367",
        max_pdu=16384,
        any_called_ae=True,
        accepted_services=frozenset({"Verification"}),
        accepts_unknown_sop_class=True,
    )
    assert v.honeypot_evidence == []
    assert v.promiscuous_evidence is not None
    assert "storescp -pm" in v.promiscuous_evidence


def test_orthanc_told_from_dcmqrscp_by_behaviour() -> None:
    dcmtk = identify_toolkit("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")
    qr = frozenset({"Verification", "StudyRootQueryRetrieveInformationModelFind"})
    assert judge(
        toolkit=dcmtk, class_uid=None, version_name=None, max_pdu=16384,
        any_called_ae=True, accepted_services=qr, accepts_unknown_sop_class=False,
    ).product == "Orthanc"  # fmt: skip
    assert judge(
        toolkit=dcmtk, class_uid=None, version_name=None, max_pdu=16384,
        any_called_ae=False, accepted_services=qr, accepts_unknown_sop_class=False,
    ).product == "DCMTK-based server"  # fmt: skip


def test_verification_only_is_storescp_only_where_storage_was_granted() -> None:
    """storescp accepts every standard Storage SOP class; DCMTK's print SCP (dcmprscp, see
    tests/lab/test_print_lab.py) accepts none, and Print; another DCMTK tool neither."""
    dcmtk = identify_toolkit("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")
    echo = frozenset({"Verification"})

    def product(stored: frozenset[str] | None, services: frozenset[str]) -> str | None:
        return judge(
            toolkit=dcmtk, class_uid=None, version_name=None, max_pdu=16384,
            any_called_ae=True, accepted_services=echo, accepts_unknown_sop_class=False,
            storage_accepted=stored, services_accepted=services,
        ).product  # fmt: skip

    printing = frozenset({"BasicGrayscalePrintManagementMeta"})
    assert product(None, frozenset()) == "DCMTK storescp"  # no storage check: as before
    assert product(frozenset({"CTImageStorage"}), frozenset()) == "DCMTK storescp"
    assert product(frozenset(), printing) == "DCMTK dcmprscp"
    assert product(frozenset(), frozenset()) == "DCMTK-based server"


def _study(**values: str) -> Dataset:
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def test_markers_match_public_samples_not_generic_roots() -> None:
    tally = MarkerTally()
    tally.add_study(_study(PatientName="BRAINIX", StudyInstanceUID="1.2.3"))
    tally.add_study(_study(PatientName="Doe^Jane", StudyInstanceUID="1.3.6.1.4.1.14519.5.2.1.9"))
    tally.add_study(_study(PatientName="Real^Person", StudyInstanceUID="2.25.12345"))
    tally.add_study(_study(PatientName="ZZZTEST", StudyDescription="SAFE TO DELETE"))
    assert tally.studies == 4
    assert tally.hits["osirix_samples"] == 1
    assert tally.hits["tcia"] == 1
    assert tally.hits["nmap_store_inject"] == 1
    assert "2.25" in GENERIC_UID_ROOTS
    assert sum(tally.hits.values()) == 3
