"""Imaging web applications and AE-title listings recognised from pages built to their formats.

None of these products runs on this machine (PacsOne Server is commercial; MONAI Label, the
Clara DICOM Adapter and the MONAI Deploy Informatics Gateway need GPUs, Kubernetes or .NET
stacks not installable here), so the in-memory sites serve answers built from the public
formats the data files cite, and the docstrings say which:

- Visage 7 (Visage Imaging, closed): only its page title, as a published census dork list
  searches for it;
- MedDream PACS Server (Softneta, closed): only the two strings Greenbone's detection script
  requires of ``/pacs/login.php``;
- PacsOne Server 7.2.3 PHP (``login.php``: ``printf("%s Login", $PRODUCT)`` with ``$PRODUCT =
  "PacsOne Server"``; ``qidors.php``: ``Basic realm="PacsOne Server QIDO-RS"``);
- MONAI Label ``GET /info/`` (``MONAILabelApp.info()``: name, description, version, labels,
  models, trainers, strategies, scoring, train_stats, datastore);
- dcm4chee-arc ``GET /dcm4chee-arc/aets`` (an array of AEs with ``dicomAETitle``);
- Clara DICOM Adapter ``GET /api/config/claraaetitle`` and MONAI Deploy Informatics Gateway
  ``GET /config/ae`` (arrays with ``aeTitle``; the documentation's own example entries);
- Dicoogle's ``index-template.html`` (``<title>Dicoogle</title>``) and ``AETitleServlet``
  (``GET /management/settings/dicom``: ``{"aetitle": ...}``, ``DICOOGLE-STORAGE`` by default).

The Orthanc plugins (Web Viewer, WSI) run for real in ``tests/lab/test_orthanc_plugins_lab.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from hostile_servers import PeerServer
from pacsaudit.measure.classify import classify
from pacsaudit.model import ExposureClass, Finding, HttpResult, encode_finding
from pacsaudit.probes.http.aetitles import ae_lists
from pacsaudit.probes.http.options import HttpOptions, Limits
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.probes.http.signatures import signatures
from pacsaudit.report.html import render_report
from pacsaudit.report.records import load_results
from pacsaudit.report.spreadsheet import COLUMNS, row
from pacsaudit.report.summary import summarise
from pacsaudit.report.table import findings_table
from pacsaudit.targets.spec import Target
from probes.http.peers import Request, Route, Site, json_route, response


def html(page: str) -> Route:
    body = page.encode()
    return lambda _r: response(200, body, headers={"Content-Type": "text/html"})


def scan(site: Site, *, page_bytes: int = 256 * 1024) -> Finding:
    opts = HttpOptions(
        budget=6.0,
        read_timeout=1.0,
        limits=Limits(request_timeout=1.0, page_bytes=page_bytes),
    )

    async def run() -> Finding:
        async with PeerServer(site) as server:
            return await HttpProbe(opts).scan(Target("127.0.0.1", server.port))

    return classify(asyncio.run(run()))


def result_of(f: Finding) -> HttpResult:
    assert isinstance(f.result, HttpResult), f
    return f.result


def apps(r: HttpResult) -> dict[str, tuple[str, str, str, bool]]:
    return {a.product: (a.category, a.path, a.evidence, a.protected) for a in r.apps}


# -- PacsOne Server ---------------------------------------------------------------------------

PACSONE_LOGIN = """<html>
<head><title>Login</title></head>
<body>
<h2>PacsOne Server Login</h2>
<form AUTOCOMPLETE="off" method=POST action='authenticate.php'>
<input type='hidden' name='loginvalue'>
<h3><font color=red>Not authorized to access this URL: http://x/pacsone/php/home.php</font></h3>
</form></body></html>"""
"""PacsOne 7.2.3 ``login.php`` as it prints without a custom logo (title ``Login``, the
product in an ``h2``)."""


def test_pacsone_login_page() -> None:
    site = Site(routes={"/pacsone/php/login.php": html(PACSONE_LOGIN)})
    r = result_of(scan(site))
    assert apps(r)["PacsOne Server"] == ("pacs", "/pacsone/php/login.php", "body", False)
    assert {q.method for q in site.requests} <= {"GET", "HEAD", "OPTIONS"}


def test_pacsone_recognised_by_its_dicomweb_realm() -> None:
    """``qidors.php`` answers ``Basic realm="PacsOne Server QIDO-RS"``; where ``/`` itself is
    behind it, the challenge names the product and nothing else is asked."""
    site = Site(basic=("u", "p"), realm="PacsOne Server QIDO-RS")
    r = result_of(scan(site))
    assert apps(r)["PacsOne Server"] == ("pacs", "/", "realm", True)
    assert r.exposure_class is ExposureClass.AUTH_REQUIRED
    assert all("authorization" not in q.headers for q in site.requests)


# -- MONAI Label --------------------------------------------------------------------------------


def monai_label_info() -> dict[str, Any]:
    """``MONAILabelApp.info()`` of a radiology sample app, trimmed: no study name in it."""
    return {
        "name": "MONAILabel - Radiology (0.8.0)",
        "description": "DeepLearning models for radiology",
        "version": "0.8.0",
        "labels": ["spleen", "liver"],
        "models": {"segmentation_spleen": {"type": "segmentation", "labels": {"spleen": 1}}},
        "trainers": {"segmentation_spleen": {"description": "Train Segmentation Model"}},
        "strategies": {"random": {"description": "Random Strategy"}},
        "scoring": {},
        "train_stats": {"segmentation_spleen": {}},
        "datastore": {"total": 41, "completed": 0},
    }


MEDDREAM_LOGIN = """<html><head><title>Login</title></head>
<body><div id="loginSplash"><form method=POST action='authenticate.php'>
<h3><font color=red>Not authorized to access this URL: /pacs/home.php</font></h3>
</form></div></body></html>"""
"""A page with what Greenbone's gb_meddream_pacs_detect.nasl requires of ``/pacs/login.php``:
both ``Not authorized to access this URL`` and ``loginSplash`` (the rest is made up)."""


def test_meddream_login_page() -> None:
    site = Site(routes={"/pacs/login.php": html(MEDDREAM_LOGIN)})
    r = result_of(scan(site))
    assert apps(r)["MedDream PACS Server"] == ("pacs", "/pacs/login.php", "body", False)
    assert "PacsOne Server" not in apps(r)


def test_pacsone_login_is_not_meddream_nor_half_of_its_fingerprint() -> None:
    """PacsOne's login page says ``Not authorized to access this URL`` too; without
    ``loginSplash`` it is not MedDream, and ``loginSplash`` alone is not either."""
    pacsone = result_of(scan(Site(routes={"/pacs/login.php": html(PACSONE_LOGIN)})))
    assert "MedDream PACS Server" not in apps(pacsone)
    splash = "<html><body><div id='loginSplash'></div></body></html>"
    other = result_of(scan(Site(routes={"/pacs/login.php": html(splash)})))
    assert other.apps == []


VISAGE_TITLES = ("Visage 7", "Visage 7 Web Client - Login")
"""Titles holding the phrase the census dork list searches for (``http.title:"Visage 7"``);
the rest of each title is made up, the product's pages being closed."""


def test_visage_7_by_its_title() -> None:
    for title in VISAGE_TITLES:
        page = f"<html><head><title>{title}</title></head><body></body></html>"
        r = result_of(scan(Site(routes={"/": html(page)})))
        assert apps(r)["Visage 7"] == ("viewer", "/", "title", False), title


def test_visage_alone_or_in_the_body_is_not_visage_7() -> None:
    """The word alone is a face-tracking SDK's and JavaScript libraries' too; a body that
    names the product is a page about it, not the product."""
    for page in (
        "<html><head><title>visage|SDK demo</title></head></html>",
        "<html><head><title>Visage 8 bundle</title></head></html>",
        "<html><head><title>Links</title></head><body>Visage 7 web client</body></html>",
    ):
        r = result_of(scan(Site(routes={"/": html(page)})))
        assert "Visage 7" not in apps(r), page


def test_monai_label_info() -> None:
    r = result_of(scan(Site(routes={"/info/": json_route(monai_label_info())})))
    assert apps(r)["MONAI Label"] == ("ai", "/info/", "body", False)
    assert r.exposure_class is ExposureClass.ANONYMOUS_ACCESS


def test_one_common_key_is_not_monai_label() -> None:
    r = result_of(scan(Site(routes={"/info/": json_route({"datastore": "x", "version": 1})})))
    assert "MONAI Label" not in apps(r)


# -- AE-title listings ------------------------------------------------------------------------


def dcm4chee_aets() -> list[dict[str, Any]]:
    return [
        {"dicomAETitle": "DCM4CHEE", "dicomDescription": "Hide instances rejected"},
        {"dicomAETitle": "IOCM_REGULAR_USE", "dicomDescription": "Show instances"},
        {"dicomAETitle": "bad\\title\u0000\u202e"},  # backslash, NUL, bidi override
        {"dicomAETitle": "A" * 40},
        {"dicomDescription": "no title at all"},
        {"dicomAETitle": "DCM4CHEE"},  # listed twice: kept once
    ]  # fmt: skip


def qido_page(_req: Request) -> bytes:
    body = json.dumps([{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}]).encode()
    return response(200, body, headers={"Content-Type": "application/dicom+json"})


def test_dcm4chee_titles_recorded_and_used_for_its_dicomweb_roots() -> None:
    site = Site(
        routes={
            "/dcm4chee-arc/aets": json_route(dcm4chee_aets()),
            "/dcm4chee-arc/aets/IOCM_REGULAR_USE/rs/studies": qido_page,
        }
    )
    f = scan(site)
    r = result_of(f)
    [listing] = r.ae_titles
    assert (listing.product, listing.path) == ("dcm4chee-arc", "/dcm4chee-arc/aets")
    assert listing.titles == ["DCM4CHEE", "IOCM_REGULAR_USE"]
    assert (listing.listed, listing.unprintable, listing.truncated) == (6, 3, False)
    assert apps(r)["dcm4chee-arc"] == ("pacs", "/dcm4chee-arc/aets", "api", False)
    qido = [(d.path, d.answered) for d in r.dicomweb if d.service == "qido-rs"]
    assert qido == [("/dcm4chee-arc/aets/IOCM_REGULAR_USE/rs", True)]
    asked = Counter(q.path for q in site.requests)
    assert asked["/dcm4chee-arc/aets"] == 1  # one answer serves both uses
    assert asked["/dcm4chee-arc/aets/DCM4CHEE/rs/studies"] == 1
    text = encode_finding(f).decode()
    assert "bad" not in text
    assert "AAAAAAAAAAAAAAAAA" not in text


def test_clara_dicom_adapter_and_monai_deploy_gateway() -> None:
    clara = [
        {
            "name": "brain-tummor",
            "aeTitle": "BrainTumorModel",
            "overwriteSameInstance": True,
            "processorSettings": {"timeout": 5, "priority": "higher"},
        }
    ]
    gateway = [
        {"name": "brain-tumor", "aeTitle": "BrainTumorModel", "grouping": "0020,000D"},
        {"name": "liver-seg", "aeTitle": "LIVERSEG", "grouping": "0020,000D", "timeout": 5},
    ]
    both = ["BrainTumorModel", "LIVERSEG"]
    cases = [
        ("/api/config/claraaetitle", "NVIDIA Clara DICOM Adapter", ["BrainTumorModel"], clara),
        ("/config/ae", "MONAI Deploy Informatics Gateway", both, gateway),
    ]
    for path, product, titles, doc in cases:
        site = Site(routes={path: json_route(doc)})
        r = result_of(scan(site))
        assert [(a.product, a.path, a.titles) for a in r.ae_titles] == [(product, path, titles)]
        assert apps(r)[product] == ("ai", path, "api", False)
        assert r.exposure_class is ExposureClass.ANONYMOUS_ACCESS
        # The lists of *other* hosts (sources, destinations, with their addresses) never.
        assert not [q for q in site.requests if "source" in q.path or "destination" in q.path]


def test_dicoogle_names_its_ae_title_only_once_recognised() -> None:
    page = "<html><head><title>Dicoogle</title></head><body><div id='react-container'>"
    setting = json_route({"aetitle": "DICOOGLE-STORAGE"})
    site = Site(routes={"/": html(page), "/management/settings/dicom": setting})
    r = result_of(scan(site))
    assert [(a.product, a.path, a.titles) for a in r.ae_titles] == [
        ("Dicoogle", "/management/settings/dicom", ["DICOOGLE-STORAGE"])
    ]
    assert apps(r)["Dicoogle"] == ("pacs", "/", "title", False)
    # The same answer on a server that is not Dicoogle is never asked for.
    other = Site(routes={"/management/settings/dicom": setting})
    r = result_of(scan(other))
    assert r.ae_titles == []
    assert "/management/settings/dicom" not in {q.path for q in other.requests}


def test_ae_title_bound() -> None:
    limit = ae_lists().max_titles
    many = [{"aeTitle": f"AE{n:04d}"} for n in range(limit + 8)]
    r = result_of(scan(Site(routes={"/config/ae": json_route(many)})))
    [listing] = r.ae_titles
    assert len(listing.titles) == limit
    assert listing.titles[0] == "AE0000"
    assert (listing.listed, listing.truncated) == (limit + 8, True)


def test_things_that_are_not_ae_listings() -> None:
    """A catch-all page, an empty array, an array of strings, objects without the key."""
    site = Site(
        routes={
            "/dcm4chee-arc/aets": json_route([]),
            "/api/config/claraaetitle": json_route(["BrainTumorModel"]),
            "/config/ae": json_route([{"name": "x"}, {"title": "y"}]),
        }
    )
    r = result_of(scan(site))
    assert r.ae_titles == []
    assert r.apps == []
    assert r.exposure_class is ExposureClass.CLOSED
    page = "<html><head><title>Router</title></head><body>[{'aeTitle': 'X'}]</body></html>"
    r = result_of(scan(Site(routes={"/config/ae": html(page)})))
    assert r.ae_titles == []


def test_every_entry_names_its_source() -> None:
    assert all(s.source and s.category for s in signatures())
    for spec in ae_lists().lists:
        assert spec.source
        assert spec.key
        assert spec.path.startswith("/")
        assert "source" not in spec.path
        assert "destination" not in spec.path
    products = {s.product for s in signatures()}
    assert {"Orthanc Web Viewer", "Orthanc WSI viewer", "PacsOne Server", "MONAI Label"} <= set(
        products
    )


# -- reports ------------------------------------------------------------------------------------


def test_reports_show_the_apps_and_titles(tmp_path: Path) -> None:
    site = Site(
        routes={
            "/dcm4chee-arc/aets": json_route(dcm4chee_aets()),
            "/info/": json_route(monai_label_info()),
        }
    )
    f = scan(site)
    console = Console(record=True, width=260, color_system=None)
    console.print(findings_table([f], Counter([str(f.status)])))
    text = console.export_text()
    assert "dcm4chee-arc" in text
    assert "MONAI Label" in text
    assert "AE titles at /dcm4chee-arc/aets: DCM4CHEE IOCM_REGULAR_USE +3" in text
    out = tmp_path / "f.jsonl"
    out.write_bytes(encode_finding(f) + b"\n")
    loaded = load_results([out])
    [service] = loaded.services
    assert service.product == "dcm4chee-arc"
    csv_row = dict(zip(COLUMNS, row(service), strict=True))
    assert csv_row["product"] == "dcm4chee-arc"
    assert csv_row["exposure_class"] == "anonymous-access"
    assert csv_row["listed_ae_titles"] == "DCM4CHEE; IOCM_REGULAR_USE (+3 not shown)"
    page = render_report(loaded, summarise(loaded))
    assert "dcm4chee-arc" in page
    assert "listed: DCM4CHEE; IOCM_REGULAR_USE (+3 not shown)</span>" in page


def test_a_listed_title_a_spreadsheet_would_run_is_quoted_in_the_csv(tmp_path: Path) -> None:
    """``-`` may begin an AE title, so the probe keeps ``-A1``; a spreadsheet would read the
    cell as the formula ``=-A1`` unless it is quoted."""
    titles = [{"aeTitle": "-A1"}, {"aeTitle": "=1+1"}, {"aeTitle": "ROUTER"}]
    f = scan(Site(routes={"/config/ae": json_route(titles)}))
    assert [a.titles for a in result_of(f).ae_titles] == [["-A1", "ROUTER"]]
    out = tmp_path / "f.jsonl"
    out.write_bytes(encode_finding(f))
    loaded = load_results([out])
    [service] = loaded.services
    csv_row = dict(zip(COLUMNS, row(service), strict=True))
    assert csv_row["listed_ae_titles"] == "'-A1; ROUTER (+1 not shown)"
    assert "listed: -A1; ROUTER (+1 not shown)</span>" in render_report(loaded, summarise(loaded))


def test_hostile_ae_listings_end_in_a_finding_without_titles() -> None:
    """Nesting deep enough to break a recursive decoder, an array past the page cap, and
    titles made of terminal escapes and right-to-left overrides."""
    deep = b"[" * 100_000 + b"]" * 100_000
    huge = json.dumps([{"aeTitle": f"AE{n:05d}"} for n in range(40_000)]).encode()
    escapes = [{"aeTitle": "\x1b[31mRED\x1b[0m"}, {"aeTitle": "\u202eCIMOD"}, {"aeTitle": 7}]
    as_json = {"Content-Type": "application/json"}
    site = Site(
        routes={
            "/dcm4chee-arc/aets": lambda _r: response(200, deep, headers=as_json),
            "/api/config/claraaetitle": lambda _r: response(200, huge, headers=as_json),
            "/config/ae": json_route(escapes),
        }
    )
    f = scan(site)
    r = result_of(f)
    assert [(a.path, a.titles, a.listed, a.unprintable) for a in r.ae_titles] == [
        ("/config/ae", [], 3, 3)
    ]
    ae = next(e for e in r.exchanges if e.path == "/api/config/claraaetitle")
    assert ae.truncated
    text = encode_finding(f).decode()
    assert "\x1b" not in text
    assert "RED" not in text
