"""NAS CVEs by firmware branch: QNAP's per-branch fixes, build numbers and dates, and the data
file's own rules (every entry cited, every product one the NAS signatures name)."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from pacsaudit.intel.nas import DATA_FILE, match_nas, nas_cves
from pacsaudit.intel.versions import Firmware, firmware_before_fix, parse_firmware
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
            assert r.get("fixed_in") or r.get("last_affected"), e["id"]
            if r.get("fixed_in"):
                assert parse_firmware(r["fixed_in"]) is not None, r
    assert len(nas_cves()) == len(data["cves"])
    assert all(n.get("reason") and (n.get("id") or n.get("subject")) for n in data["not_included"])


def test_ransomware_families_are_tied_by_a_vendor_advisory() -> None:
    by_id = {e["id"]: e for e in raw()["cves"]}
    assert by_id["CVE-2021-28799"]["ransomware"] == ["Qlocker"]
    assert by_id["CVE-2022-27593"]["ransomware"] == ["DeadBolt"]
    for e in by_id.values():
        for family in e["ransomware"]:
            assert any(family in s["says"] for s in e["sources"]), e["id"]
