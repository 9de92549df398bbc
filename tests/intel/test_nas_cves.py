"""NAS CVEs by firmware version: QNAP's per-branch fixes, build numbers and dates; Synology
DSM's release lines, builds and updates; WD My Cloud's and ReadyNAS's dotted numbers; ASUSTOR's
one stated release; and the data file's own rules (every entry cited, every product one the NAS
signatures name, every range readable by its scheme)."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from pacsaudit.intel.nas import DATA_FILE, SCHEMES, _cve, match_nas, nas_cves
from pacsaudit.intel.versions import (
    DsmVersion,
    Firmware,
    firmware_before_fix,
    parse_dsm,
    parse_firmware,
)
from pacsaudit.probes.http.nas import nas_signatures


def raw() -> dict[str, Any]:
    text = resources.files("pacsaudit.data").joinpath(DATA_FILE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.mark.parametrize(
    ("text", "numbers", "date"),
    [
        ("5.0.1.2145", (5, 0, 1, 2145), None),
        ("4.5.4 build 20210923", (4, 5, 4), 20210923),
        ("4.5.2.1566 Build 20210202", (4, 5, 2, 1566), 20210202),
        ("build 20190918", (), 20190918),
        ("4.2.29", (4, 2, 29), None),
    ],
)
def test_firmware_strings(text: str, numbers: tuple[int, ...], date: int | None) -> None:
    assert parse_firmware(text) == Firmware(numbers, date)


@pytest.mark.parametrize("text", ["", "3.2.5 build 0410T", "h4.5.1.1491", "3.1.2.RHG1"])
def test_unreadable_firmware(text: str) -> None:
    assert parse_firmware(text) is None


def fw(text: str) -> Firmware:
    parsed = parse_firmware(text)
    assert parsed is not None, text
    return parsed


def test_build_number_compares_only_within_its_branch() -> None:
    fix = fw("4.5.2.1566 build 20210202")
    assert firmware_before_fix(fw("4.5.2.1565"), (4, 5, 2), fix) is True
    assert firmware_before_fix(fw("4.5.2.1566"), (4, 5, 2), fix) is False
    # 4.5.1.1500 has a lower number than the 4.5.2 fix, but is another branch: not told here
    assert firmware_before_fix(fw("4.5.1.1500"), (4, 5, 2), fix) is None
    # the branch alone, with neither number nor date: cannot be told
    assert firmware_before_fix(fw("4.5.2"), (4, 5, 2), fix) is None


def ids(product: str, firmware: str | None) -> list[str]:
    return [c.id for c in match_nas(product, firmware).cves]


@pytest.mark.parametrize(
    ("firmware", "expected"),
    [
        # CVE-2020-2509 (QSA-21-05): 4.5.1 fixed in 4.5.1.1495 build 20201123
        ("4.5.1 build 20201122", ["CVE-2020-2509"]),
        ("4.5.1 build 20201123", []),
        ("4.5.1.1494", ["CVE-2020-2509"]),
        ("4.5.1.1495", []),
        # 4.5.2 fixed apart, in 4.5.2.1566 build 20210202: 4.5.1's fix does not cover it
        ("4.5.2.1560 build 20210115", ["CVE-2020-2509"]),
        ("4.5.2.1566 build 20210202", []),
        # date first where both carry one: a later build of the same branch is fixed
        ("4.5.2.1500 build 20210301", []),
        # 4.3.6: CVE-2019-7193 fixed in build 20190919, CVE-2018-19949 in 4.3.6.1218 build
        # 20200214, CVE-2020-2509 in 4.3.6.1620 build 20210322
        ("4.3.6 build 20190918", ["CVE-2019-7193", "CVE-2018-19949", "CVE-2020-2509"]),
        ("4.3.6 build 20190919", ["CVE-2018-19949", "CVE-2020-2509"]),
        ("4.3.6.1218 build 20200214", ["CVE-2020-2509"]),
        ("4.3.6.1620 build 20210322", []),
        # 4.4.0 and 4.4.1 share CVE-2019-7193's fix date; 4.4.0 is no branch of CVE-2018-19949
        ("4.4.0 build 20190101", ["CVE-2019-7193"]),
        ("4.4.1.1201 build 20200130", []),
        # branches no advisory names, and versions with nothing to compare
        ("4.4.3.1400 build 20200801", []),
        # CVE-2022-27596 (QSA-23-01): 5.0.1 fixed in 5.0.1.2234 build 20221201, by number
        ("5.0.1.2145", ["CVE-2022-27596"]),
        ("5.0.1.2234", []),
        ("5.0.1.2145 build 20220903", ["CVE-2022-27596"]),
        ("5.0.0.1986 build 20220324", []),
        ("4.5.2", []),
    ],
)
def test_qnap_branches(firmware: str, expected: list[str]) -> None:
    assert ids("QNAP QTS", firmware) == expected


def test_last_affected_without_branch() -> None:
    assert ids("TerraMaster TOS", "4.2.29") == ["CVE-2022-24990"]
    assert ids("TerraMaster TOS", "4.1.30") == ["CVE-2022-24990"]
    assert ids("TerraMaster TOS", "4.2.30") == []


def test_no_version_no_cves_and_apps_never_matched() -> None:
    assert ids("QNAP QTS", None) == []
    found = match_nas("QNAP QTS", "4.2.6 build 20190101")
    assert {c.scope for c in found.cves} == {"firmware"}
    assert {c.id for c in found.app_checks} >= {"CVE-2021-28799", "CVE-2022-27593"}
    assert ids("Synology DSM", "7.0") == []


def test_every_entry_is_cited_and_names_a_recognised_product() -> None:
    products = {s.product for s in nas_signatures()}
    data = raw()
    seen = set()
    for e in data["cves"]:
        assert re.fullmatch(r"CVE-\d{4}-\d{4,}", e["id"]), e["id"]
        assert e["id"] not in seen
        seen.add(e["id"])
        assert e["product"] in products, e["id"]
        assert e["component"], e["id"]
        assert e["summary"], e["id"]
        assert e["sources"], e["id"]
        assert all(s["ref"] and s["says"] for s in e["sources"]), e["id"]
        assert e["scope"] in ("firmware", "app"), e["id"]
        assert bool(e.get("affected")) is (e["scope"] == "firmware"), e["id"]
        for r in e.get("affected", ()):
            assert r.get("fixed_in") or r.get("last_affected") or r.get("versions"), e["id"]
            if r.get("fixed_in") and e["version_scheme"] == "qnap":
                assert parse_firmware(r["fixed_in"]) is not None, r
    assert len(nas_cves()) == len(data["cves"])  # loading checks each bound by its scheme
    assert all(n.get("reason") and (n.get("id") or n.get("subject")) for n in data["not_included"])


def test_ransomware_families_are_tied_by_a_vendor_advisory() -> None:
    by_id = {e["id"]: e for e in raw()["cves"]}
    assert by_id["CVE-2021-28799"]["ransomware"] == ["Qlocker"]
    assert by_id["CVE-2022-27593"]["ransomware"] == ["DeadBolt"]
    for e in by_id.values():
        for family in e["ransomware"]:
            assert any(family in s["says"] for s in e["sources"]), e["id"]


# -- Synology DSM, WD My Cloud, ASUSTOR ADM, ReadyNAS: each by its own version scheme ----------


@pytest.mark.parametrize(
    ("text", "release", "build", "update"),
    [
        ("7.2.1-69057-6", (7, 2, 1), 69057, 6),
        ("7.2-64570-4", (7, 2, 0), 64570, 4),
        ("6.2.3-25426", (6, 2, 3), 25426, 0),
        ("7.1.1-42962 Update 7", (7, 1, 1), 42962, 7),
        ("DSM 7.2", (7, 2, 0), None, 0),
    ],
)
def test_dsm_versions(text: str, release: tuple[int, int, int], build: int, update: int) -> None:
    assert parse_dsm(text) == DsmVersion(release, build, update)


@pytest.mark.parametrize("text", ["", "7", "7.2.1-", "7.2.1-69057-6a", "6.2.3 build 25426"])
def test_unreadable_dsm_versions(text: str) -> None:
    assert parse_dsm(text) is None


@pytest.mark.parametrize(
    ("firmware", "expected"),
    [
        # CVE-2024-10441: each release line up to its own fix
        ("7.2.2-72806", ["CVE-2024-10441"]),
        ("7.2.2-72806-1", []),
        ("7.2.1-69057-5", ["CVE-2024-10441"]),
        ("7.2.1-69057-6", []),  # 7.2.1 sorts after the 7.2 fix's build, yet is its own line
        ("7.2-64570-3", ["CVE-2024-10441"]),
        ("7.2-64570-4", []),
        ("7.1.1-42962-6", ["CVE-2024-10441"]),
        ("7.1.1-42962-7", []),
        ("7.1-42661-4", ["CVE-2024-10441"]),
        ("7.0.1-42218-7", []),  # between the 6.2 and 7.1 lines: the record names no range
        ("6.2.4-25556-7", ["CVE-2024-10441"]),
        ("6.2.4-25556-8", []),
        # CVE-2021-29086/29087: every version before 6.2.3-25426-3, and 10441's 6.2 line
        ("6.2.3-25426-2", ["CVE-2024-10441", "CVE-2021-29087", "CVE-2021-29086"]),
        ("6.2.3-25426-3", ["CVE-2024-10441"]),
        ("6.1.7-15284", ["CVE-2021-29087", "CVE-2021-29086"]),  # below 6.2: 10441 unknown
        # the release alone: told only against another release's fix
        ("7.2.2", []),
        ("6.2.2", ["CVE-2024-10441", "CVE-2021-29087", "CVE-2021-29086"]),
        ("7.3-81180", []),
    ],
)
def test_synology_dsm_ranges(firmware: str, expected: list[str]) -> None:
    assert ids("Synology DSM", firmware) == expected


def test_synology_photos_is_an_app_to_check() -> None:
    found = match_nas("Synology DSM", None)
    assert [c.id for c in found.app_checks] == ["CVE-2024-10443"]
    assert found.cves == ()


@pytest.mark.parametrize(
    ("firmware", "expected"),
    [
        ("2.30.195", ["CVE-2018-17153", "CVE-2019-9951"]),
        ("2.30.196", ["CVE-2019-9951"]),
        ("2.31.173", ["CVE-2019-9951"]),
        ("2.31.174", []),
        ("2.4.1", ["CVE-2018-17153", "CVE-2019-9951"]),  # 4 < 30: numbers, not text
        ("5.04.114", []),
        ("2.31.174a", []),  # not digits and dots: not compared
    ],
)
def test_wd_my_cloud_ranges(firmware: str, expected: list[str]) -> None:
    assert ids("WD My Cloud", firmware) == expected


@pytest.mark.parametrize(
    ("firmware", "expected"),
    [
        ("4.1.11", ["CVE-2013-2751"]),
        ("4.1.12", []),
        ("4.2.23", ["CVE-2013-2751"]),
        ("4.2.24", []),
        ("4.2.3", ["CVE-2013-2751"]),
        ("4.0.9", ["CVE-2013-2751"]),
        ("6.10.3", []),
    ],
)
def test_readynas_ranges(firmware: str, expected: list[str]) -> None:
    assert ids("Netgear ReadyNAS", firmware) == expected


@pytest.mark.parametrize(
    ("firmware", "expected"),
    [
        ("3.1.0.RFQ3", ["CVE-2018-11510"]),
        ("3.1.0.rfq3", ["CVE-2018-11510"]),
        ("3.1.2.RHG1", []),  # "and prior" is a third party's reading, not the record's
        ("3.1.0.RFQ2", []),
        ("4.0.4.RQO2", []),
    ],
)
def test_asustor_only_the_stated_release(firmware: str, expected: list[str]) -> None:
    assert ids("ASUSTOR ADM", firmware) == expected


def test_every_firmware_entry_names_a_scheme_its_bounds_fit() -> None:
    for e in raw()["cves"]:
        if e["scope"] == "firmware":
            assert e["version_scheme"] in SCHEMES, e["id"]
        else:
            assert "version_scheme" not in e, e["id"]
    bad = {"id": "CVE-0000-0000", "product": "Synology DSM", "scope": "firmware",
           "version_scheme": "synology", "affected": [{"fixed_in": "7.2.1"}]}  # fmt: skip
    with pytest.raises(ValueError, match="unreadable fixed_in"):
        _cve(bad)
    with pytest.raises(ValueError, match="unknown version_scheme"):
        _cve({**bad, "version_scheme": "semver"})
