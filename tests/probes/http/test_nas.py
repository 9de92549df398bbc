"""NAS administration pages: recognised by the strings of public fingerprints, model and
firmware kept only where such a page shows them, host names never.

No NAS firmware runs here, so the pages are fakes built from the formats the signatures cite
(``data/nas_signatures.json``: nmap's http-qnap-nas-info, Greenbone's ASUSTOR and Buffalo
detections, WhatWeb's Synology plugin, nuclei's WD and TerraMaster panels).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from hostile_servers import PeerServer
from pacsaudit.measure.classify import classify
from pacsaudit.model import ExposureClass, Finding, HttpResult, Severity, encode_finding
from pacsaudit.probes.http.nas import nas_signatures
from pacsaudit.probes.http.options import HttpOptions, Limits
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.report.html import render_report
from pacsaudit.report.notify import _service_section
from pacsaudit.report.records import load_results
from pacsaudit.report.remedy import MANAGEMENT, PATCH, advice_for
from pacsaudit.report.spreadsheet import row
from pacsaudit.report.summary import summarise
from pacsaudit.targets.spec import Target
from probes.http.peers import Request, Site, response

HOST = "CNRYNASHOST"
"""A host name the pages carry, as real ones do: it must never reach a finding."""


def html(page: str, status: int = 200, **headers: str) -> Callable[[Request], bytes]:
    body = page.encode()
    return lambda _r: response(status, body, headers={"Content-Type": "text/html", **headers})


QNAP_XML = f"""<?xml version="1.0" encoding="UTF-8" ?>
<QDocRoot version="1.0"><authPassed><![CDATA[0]]></authPassed>
<model><modelName><![CDATA[TS-X53D]]></modelName>
<internalModelName><![CDATA[TS-453D]]></internalModelName>
<displayModelName><![CDATA[TS-453D]]></displayModelName></model>
<firmware><version><![CDATA[4.5.4]]></version><number><![CDATA[1800]]></number>
<build><![CDATA[20210923]]></build></firmware>
<hostname><![CDATA[{HOST}]]></hostname></QDocRoot>"""
ASUSTOR = f"""<html><head><title>{HOST}</title></head><body><div class="login-nas-model"></div>
<script>var nasModel ='AS3102T', fwType = 'x', hostName = '{HOST}';
var _dcTag = '3.1.2.RHG1';</script></body></html>"""

SITES: dict[str, tuple[dict[str, Callable[[Request], bytes]], str, str | None, str | None]] = {
    "qnap": (
        {"/cgi-bin/authLogin.cgi": html(QNAP_XML)},
        "QNAP QTS",
        "TS-453D",
        "4.5.4 build 20210923",
    ),
    "asustor": ({"/portal/": html(ASUSTOR)}, "ASUSTOR ADM", "AS3102T", "3.1.2.RHG1"),
    "buffalo": (
        {"/": html(f"<html><head><title>LinkStation - LS-QL  ({HOST})</title></head></html>")},
        "Buffalo LinkStation/TeraStation",
        "LS-QL",
        None,
    ),
    "synology": (
        {
            "/": html(
                f"<html><head><title>{HOST}&nbsp;-&nbsp;Synology&nbsp;DiskStation</title>"
                '</head><body><script type="text/javascript">SYNO.SDS.Session = {};</script>'
            )
        },
        "Synology DSM",
        None,
        None,
    ),
    "wd": (
        {"/": html(f"<html><head><title>{HOST}</title></head><body>WDMyCloud login</body>")},
        "WD My Cloud",
        None,
        None,
    ),
    "terramaster": (
        {"/": html("<html><head><title>x</title></head></html>", Server="TOS")},
        "TerraMaster TOS",
        None,
        None,
    ),
    "readynas": (
        {"/admin/": html("", 401, **{"WWW-Authenticate": 'Basic realm="ReadyNAS Admin"'})},
        "Netgear ReadyNAS",
        None,
        None,
    ),
}


def scan(site: Site) -> Finding:
    opts = HttpOptions(budget=6.0, read_timeout=1.0, limits=Limits(request_timeout=1.0))

    async def run() -> Finding:
        async with PeerServer(site) as server:
            return await HttpProbe(opts).scan(Target("127.0.0.1", server.port))

    return classify(asyncio.run(run()))


@pytest.mark.parametrize("name", sorted(SITES))
def test_nas_admin_page(name: str) -> None:
    routes, product, model, firmware = SITES[name]
    site = Site(routes=dict(routes))
    finding = scan(site)
    result = finding.result
    assert isinstance(result, HttpResult)
    m = result.management
    assert m is not None, result
    assert (m.product, m.model, m.firmware) == (product, model, firmware)
    assert m.source
    assert result.exposure_class is ExposureClass.MANAGEMENT_EXPOSED
    assert result.severity is Severity.MEDIUM
    assert HOST.lower() not in encode_finding(finding).decode().lower()
    assert all(r.method == "GET" for r in site.requests if r.method != "OPTIONS")


def test_values_outside_the_alphabet_are_not_kept() -> None:
    xml = QNAP_XML.replace("TS-453D", "<script>alert(1)</script>").replace("4.5.4", "9" * 40)
    finding = scan(Site(routes={"/cgi-bin/authLogin.cgi": html(xml)}))
    assert isinstance(finding.result, HttpResult)
    m = finding.result.management
    assert m is not None
    assert (m.model, m.firmware) == (None, None)


def test_an_ordinary_site_is_no_nas() -> None:
    page = "<html><head><title>Welcome to our clinic</title></head><body>hi</body></html>"
    finding = scan(Site(routes={"/": html(page)}))
    assert isinstance(finding.result, HttpResult)
    assert finding.result.management is None
    assert finding.result.exposure_class is ExposureClass.CLOSED


def test_every_signature_names_its_source() -> None:
    assert len({s.vendor for s in nas_signatures()}) == 7
    assert all(s.source and s.paths for s in nas_signatures())


def test_reports_advise_and_do_not_count_it_as_open(tmp_path: Path) -> None:
    routes, *_ = SITES["qnap"]
    finding = scan(Site(routes=dict(routes)))
    out = tmp_path / "f.jsonl"
    out.write_bytes(encode_finding(finding) + b"\n")
    services = load_results([out]).services
    assert len(services) == 1
    s = services[0]
    assert s.exposure_class == "management-exposed"
    assert not s.exposed
    assert s.product == "QNAP QTS TS-453D"
    assert s.version == "4.5.4 build 20210923"
    assert next(a for a, _ in advice_for(s)) is MANAGEMENT


def test_a_qnap_firmware_version_lists_its_cves_and_apps_to_check(tmp_path: Path) -> None:
    """QTS 4.5.1 before build 20201123 (QSA-21-05: CVE-2020-2509's fix on that branch); the
    branch is named by no other advisory in data/nas_cves.json."""
    xml = QNAP_XML.replace("4.5.4", "4.5.1").replace("20210923", "20201020")
    finding = scan(Site(routes={"/cgi-bin/authLogin.cgi": html(xml)}))
    assert isinstance(finding.result, HttpResult)
    m = finding.result.management
    assert m is not None
    assert m.firmware == "4.5.1 build 20201020"
    assert m.cves == ["CVE-2020-2509"]
    assert m.cve_basis is not None
    assert m.cve_basis.startswith("possibly affected: firmware version as the page shows it")
    assert "CVE-2021-28799 (HBS 3 (Hybrid Backup Sync), Qlocker)" in m.app_checks
    assert "CVE-2022-27593 (Photo Station, DeadBolt)" in m.app_checks
    assert classify(finding) == finding  # judging twice changes nothing

    out = tmp_path / "f.jsonl"
    out.write_bytes(encode_finding(finding) + b"\n")
    loaded = load_results([out])
    s = loaded.services[0]
    assert s.cves == ("CVE-2020-2509",)
    fixes = dict(advice_for(s))
    assert fixes[PATCH] == "QNAP QTS TS-453D 4.5.1 build 20201020: CVE-2020-2509"
    assert "CVE-2021-28799 (HBS 3 (Hybrid Backup Sync), Qlocker)" in fixes[MANAGEMENT]
    notice = "\n".join(_service_section(s))
    assert "**Known vulnerabilities:** CVE-2020-2509" in notice
    assert "**Basis:** possibly affected" in notice
    assert "**Applications to check**" in notice
    assert "DeadBolt" in notice
    assert "CVE-2020-2509" in row(s)
    page = render_report(loaded, summarise(loaded))
    assert "CVE-2020-2509" in page


def test_a_nas_without_a_version_lists_no_cves() -> None:
    page = "<html><head><title>QNAP Turbo NAS</title></head><body></body></html>"
    finding = scan(Site(routes={"/": html(page)}))
    assert isinstance(finding.result, HttpResult)
    m = finding.result.management
    assert m is not None
    assert (m.product, m.firmware) == ("QNAP QTS", None)
    assert m.cves == []
    assert m.cve_basis is None
    assert m.ransomware == []
    assert m.app_checks  # a QNAP may run Photo Station or HBS 3 whatever its firmware


def test_an_asustor_page_showing_the_stated_release_lists_its_cve() -> None:
    """CVE-2018-11510's record names ADM 3.1.0.RFQ3; the page's ``_dcTag`` shows the version."""
    finding = scan(Site(routes={"/portal/": html(ASUSTOR.replace("3.1.2.RHG1", "3.1.0.RFQ3"))}))
    assert isinstance(finding.result, HttpResult)
    m = finding.result.management
    assert m is not None
    assert (m.product, m.firmware, m.cves) == ("ASUSTOR ADM", "3.1.0.RFQ3", ["CVE-2018-11510"])
    assert m.cve_basis is not None
    assert "ASUSTOR ADM 3.1.0.RFQ3" in m.cve_basis
    # the release the page fixture shows by default: not one the record names
    other = scan(Site(routes={"/portal/": html(ASUSTOR)})).result
    assert isinstance(other, HttpResult)
    assert other.management is not None
    assert other.management.cves == []


def test_a_synology_page_advises_checking_synology_photos() -> None:
    routes, *_ = SITES["synology"]
    finding = scan(Site(routes=dict(routes)))
    assert isinstance(finding.result, HttpResult)
    m = finding.result.management
    assert m is not None
    assert (m.firmware, m.cves) == (None, [])  # DSM's login page shows no version
    assert m.app_checks == ["CVE-2024-10443 (Synology Photos (Task Manager))"]
