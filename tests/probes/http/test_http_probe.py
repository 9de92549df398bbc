"""The HTTP probe against peers written for the purpose (127.0.0.1, both event loops).

Well-behaved peers check what is counted and recognised (QIDO-RS paging, PHI attribute counts,
keyed hashes, WADO-URI, TLS facts, default credentials only with the flag); hostile peers check
that every bound holds: body caps, whole-exchange deadlines, redirect caps, off-target
redirects, garbage and decompression bombs. Each hostile case must end in a structured finding
well inside the probe's budget.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from hostile_servers import PeerServer
from pacsaudit.lab.certs import write_self_signed
from pacsaudit.measure.classify import classify
from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.model import (
    ErrorKind,
    ExposureClass,
    Finding,
    HttpResult,
    Severity,
    Status,
    encode_finding,
)
from pacsaudit.net.stream import DialOptions
from pacsaudit.probes.http.probe import HttpOptions, HttpProbe, HttpsProbe
from pacsaudit.probes.http.transport import Limits
from pacsaudit.targets.spec import Target
from probes.http import peers
from probes.http.peers import Request, Site, html_route, json_route, response

T = TypeVar("T")
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
Runner = Callable[[Coroutine[Any, Any, T]], T]
KEY = b"\x42" * 32
CANARY = "CNRYWEBTEST"


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as loop_runner:
            return loop_runner.run(coro)

    return runner


def options(**changes: Any) -> HttpOptions:
    base: dict[str, Any] = {
        "read_timeout": 0.5,
        "dial": DialOptions(connect_timeout=1.0, tls_handshake_timeout=1.0),
        "budget": 6.0,
        "limits": Limits(request_timeout=1.0, page_bytes=64 * 1024, json_bytes=256 * 1024),
        "hasher": KeyedHasher(KEY),
        "credential_interval": 0.0,
    }
    base.update(changes)
    return HttpOptions(**base)


async def scan(handler: Any, probe: HttpProbe | None = None, tls: Any = None) -> Finding:
    async with PeerServer(handler, tls=tls) as server:
        probe = probe or HttpProbe(options())
        return classify(await probe.scan(Target("127.0.0.1", server.port)))


def http_result(f: Finding) -> HttpResult:
    assert f.status is Status.HTTP, f
    assert isinstance(f.result, HttpResult)
    return f.result


# -- DICOMweb, Orthanc-like REST --------------------------------------------------------------


def study(n: int) -> dict[str, Any]:
    return {
        "00080020": {"vr": "DA", "Value": [f"20{10 + n % 10}0101"]},
        "00080050": {"vr": "SH", "Value": [f"{CANARY}ACC{n}"]},
        "00080061": {"vr": "CS", "Value": ["CT", "SR"] if n % 2 else ["MR"]},
        "00080090": {"vr": "PN"},  # present but empty: not counted
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": f"{CANARY}^Name{n}"}]},
        "00100020": {"vr": "LO", "Value": [f"{CANARY}PID{n % 7}"]},
        "00100030": {"vr": "DA", "Value": [""]},  # blank: not counted
        "0020000D": {"vr": "UI", "Value": [f"1.2.826.0.1.3680043.99.{n}"]},
        "00201208": {"vr": "IS", "Value": [3]},
    }


def qido(studies: list[dict[str, Any]], *, honour_offset: bool = True) -> Callable[..., bytes]:
    def route(req: Request) -> bytes:
        limit = int(req.query.get("limit", "100"))
        offset = int(req.query.get("offset", "0")) if honour_offset else 0
        page = studies[offset : offset + limit]
        return response(
            200, json.dumps(page).encode(), headers={"Content-Type": "application/dicom+json"}
        )

    return route


def test_qido_paging_counts_and_privacy(run: Runner[Finding]) -> None:
    site = Site(routes={"/dicom-web/studies": qido([study(n) for n in range(23)])})
    f = run(scan(site, HttpProbe(options(page_size=10))))
    r = http_result(f)
    assert [(d.service, d.path, d.answered) for d in r.dicomweb] == [
        ("qido-rs", "/dicom-web", True)
    ]
    e = r.exposure
    assert e is not None
    assert (e.studies, e.patients, e.images, e.records_examined) == (23, 7, 69, 23)
    assert not e.studies_lower_bound
    assert e.phi_attributes == {
        "AccessionNumber": 23,
        "PatientID": 23,
        "PatientName": 23,
        "StudyDate": 23,
    }
    assert e.modalities == {"CT": 11, "MR": 12, "SR": 11}
    assert len(e.patient_id_hashes) == 7
    assert e.hash_key_id == KeyedHasher(KEY).key_id
    assert e.queries[0].model == "qido-rs"
    assert e.queries[0].queries == 4  # 10 + 10 + 3 + the empty page that ends it
    assert r.exposure_class is ExposureClass.PHI_READABLE
    assert r.severity is Severity.CRITICAL
    assert CANARY.lower() not in encode_finding(f).decode().lower()
    # includefield asked for the Annex E attributes the DICOM probe asks for.
    first = next(q for q in site.requests if q.path == "/dicom-web/studies")
    assert "00100010" in first.query["includefield"].split(",")


def test_qido_bounds(run: Runner[Finding]) -> None:
    """max-records stops the enumeration (lower bound); a server ignoring offset is not
    counted twice."""
    big = Site(routes={"/dicom-web/studies": qido([study(n) for n in range(50)])})
    r = http_result(run(scan(big, HttpProbe(options(page_size=10, max_records=25)))))
    assert r.exposure is not None
    assert r.exposure.studies == 25
    assert r.exposure.studies_lower_bound
    stuck = Site(
        routes={"/dicom-web/studies": qido([study(n) for n in range(50)], honour_offset=False)}
    )
    r = http_result(run(scan(stuck, HttpProbe(options(page_size=10)))))
    assert r.exposure is not None
    assert r.exposure.studies == 10
    assert r.exposure.queries[0].queries == 2


def test_qido_page_over_the_body_cap(run: Runner[Finding]) -> None:
    """A server that ignores ``limit`` and sends everything: answered, nothing counted."""
    everything = [study(n) for n in range(2000)]
    body = json.dumps(everything).encode()
    site = Site(
        routes={
            "/dicom-web/studies": lambda _r: response(
                200, body, headers={"Content-Type": "application/dicom+json"}
            )
        }
    )
    r = http_result(run(scan(site)))
    assert [(d.path, d.answered) for d in r.dicomweb if d.service == "qido-rs"] == [
        ("/dicom-web", True)
    ]
    assert r.exposure is not None
    assert r.exposure.studies is None
    assert r.exposure.error is not None
    assert r.exposure.error.detail == "body-cap"
    qido = next(e for e in r.exchanges if e.purpose == "qido")
    assert qido.truncated
    assert qido.bytes_read == 256 * 1024
    assert r.exposure_class is ExposureClass.ANONYMOUS_ACCESS


def test_catch_all_html_is_not_dicomweb(run: Runner[Finding]) -> None:
    """A single-page app answers 200 text/html to every path: no QIDO, no WADO-URI."""

    async def catch_all(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(100):
            if await peers.read_request(reader) is None:
                return
            writer.write(html_route("Some router")(Request("GET", "/", {})))
            await writer.drain()

    r = http_result(run(scan(catch_all)))
    assert r.dicomweb == []
    assert r.exposure is None
    assert r.exposure_class is ExposureClass.CLOSED


def test_orthanc_statistics_and_recognition(run: Runner[Finding]) -> None:
    site = Site(
        routes={
            "/": lambda _r: response(301, headers={"Location": "app/explorer.html"}),
            "/app/explorer.html": html_route("Orthanc Explorer"),
            "/system": json_route(
                {"ApiVersion": 16, "DicomAet": "PACS1", "DicomPort": 4242, "Name": "ward",
                 "Version": "1.10.1"}
            ),
            "/statistics": json_route(
                {"CountPatients": 3, "CountStudies": 4, "CountSeries": 5, "CountInstances": 6,
                 "TotalDiskSizeMB": 7}
            ),
            "/plugins": json_route(["explorer.js"]),
        }
    )  # fmt: skip
    r = http_result(run(scan(site, HttpProbe(options(enumerate=False)))))
    assert r.status_code == 200
    products = {a.product: a for a in r.apps}
    assert products["Orthanc Explorer"].evidence == "title"
    assert products["Orthanc"].evidence == "api"
    assert r.orthanc is not None
    assert (r.orthanc.dicom_aet, r.orthanc.dicom_port, r.orthanc.version) == (
        "PACS1",
        4242,
        "1.10.1",
    )
    assert r.orthanc.statistics is not None
    assert (r.orthanc.statistics.patients, r.orthanc.statistics.instances) == (3, 6)
    assert r.exchanges[0].redirects == 1
    # /statistics counting studies, no login: the REST API serves every instance.
    assert r.exposure_class is ExposureClass.RETRIEVABLE


def test_orthanc_without_dicomweb_is_counted_from_its_rest_listing(run: Runner[Finding]) -> None:
    def rest_study(n: int) -> dict[str, Any]:
        return {
            "ID": f"id{n}",
            "MainDicomTags": {"AccessionNumber": f"{CANARY}{n}", "StudyDate": "20210304",
                              "StudyInstanceUID": f"1.2.3.{n}"},
            "PatientMainDicomTags": {"PatientID": f"{CANARY}P{n % 4}", "PatientName": ""},
        }  # fmt: skip

    listing = [rest_study(n) for n in range(12)]

    def studies(req: Request) -> bytes:
        assert "expand" in req.query
        since, limit = int(req.query["since"]), int(req.query["limit"])
        return json_route(listing[since : since + limit])(req)

    site = Site(
        routes={
            "/system": json_route({"ApiVersion": 5, "DicomAet": "ORTHANC", "Version": "1.5.8"}),
            "/statistics": json_route({"CountStudies": 12, "CountInstances": 40}),
            "/studies": studies,
        }
    )
    f = run(scan(site, HttpProbe(options(page_size=5))))
    r = http_result(f)
    assert not [d for d in r.dicomweb if d.service == "qido-rs"]
    e = r.exposure
    assert e is not None
    assert (e.studies, e.patients, e.images) == (12, 4, 40)  # images from /statistics
    assert e.images_source == "orthanc-statistics"
    assert not e.images_lower_bound
    assert e.phi_attributes == {"AccessionNumber": 12, "PatientID": 12, "StudyDate": 12}
    assert (e.queries[0].model, e.queries[0].queries) == ("orthanc-rest", 4)
    assert r.exposure_class is ExposureClass.PHI_READABLE
    assert CANARY.lower() not in encode_finding(f).decode().lower()


def test_wado_uri_told_apart_from_a_missing_path(run: Runner[Finding]) -> None:
    site = Site(
        routes={"/wado": lambda _r: response(400, b"studyUID missing")},
    )
    r = http_result(run(scan(site)))
    wado = [d for d in r.dicomweb if d.service == "wado-uri"]
    assert [(d.path, d.answered, d.evidence) for d in wado] == [("/wado", True, "status-differs")]
    assert r.exposure_class is ExposureClass.ANONYMOUS_ACCESS


# -- authentication ---------------------------------------------------------------------------


def orthanc_behind_basic(user: str, password: str) -> Site:
    return Site(
        routes={
            "/system": json_route({"ApiVersion": 16, "DicomAet": "ORTHANC", "Version": "1.12.0"}),
            "/statistics": json_route({"CountStudies": 2, "CountInstances": 9}),
            "/dicom-web/studies": qido([study(1), study(2)]),
        },
        basic=(user, password),
        realm="Orthanc Secure Area",
    )


def test_no_authorization_header_without_the_flag(run: Runner[Finding]) -> None:
    site = orthanc_behind_basic("orthanc", "orthanc")
    r = http_result(run(scan(site)))
    assert site.requests, "the probe asked nothing"
    assert all("authorization" not in q.headers for q in site.requests)
    assert r.credentials is None
    assert r.auth is not None
    assert (r.auth.status_code, r.auth.scheme, r.auth.realm) == (
        401,
        "Basic",
        "Orthanc Secure Area",
    )
    assert r.orthanc is not None
    assert r.orthanc.auth_required
    assert [a.product for a in r.apps] == ["Orthanc"]
    assert r.apps[0].protected
    assert r.exposure is None
    assert r.exposure_class is ExposureClass.AUTH_REQUIRED
    assert r.severity is Severity.LOW


def test_default_credentials_with_the_flag(run: Runner[Finding]) -> None:
    site = orthanc_behind_basic("orthanc", "orthanc")
    f = run(scan(site, HttpProbe(options(try_default_credentials=True))))
    r = http_result(f)
    assert r.credentials is not None
    assert (r.credentials.accepted_user, r.credentials.tried) == ("orthanc", 1)
    assert r.orthanc is not None
    assert r.orthanc.auth_required  # anonymous access was refused...
    assert r.exposure is not None  # ...and the default login read the studies
    assert r.exposure.studies == 2
    assert r.exposure_class is ExposureClass.PHI_READABLE
    assert any(e.credentials for e in r.exchanges)
    # The password never reaches the output, only the (equally public) user name.
    assert "orthanc:orthanc" not in encode_finding(f).decode()


def test_unknown_password_is_not_guessed(run: Runner[Finding]) -> None:
    site = orthanc_behind_basic("admin", "a-long-random-secret")
    r = http_result(run(scan(site, HttpProbe(options(try_default_credentials=True)))))
    assert r.credentials is not None
    assert r.credentials.accepted_user is None
    assert 1 <= r.credentials.tried <= 4
    assert r.exposure_class is ExposureClass.AUTH_REQUIRED


def test_no_credentials_for_a_server_nothing_imaging(run: Runner[Finding]) -> None:
    site = Site(basic=("admin", "admin"), realm="Router")
    r = http_result(run(scan(site, HttpProbe(options(try_default_credentials=True)))))
    assert r.credentials is None
    assert all("authorization" not in q.headers for q in site.requests)
    assert r.exposure_class is ExposureClass.CLOSED


# -- TLS ----------------------------------------------------------------------------------------


def test_https_reports_tls_like_dicom(run: Runner[Finding], tmp_path: Path) -> None:
    import ssl

    key, cert = write_self_signed(tmp_path, common_name="pacsaudit-test-https")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    site = Site(routes={"/": html_route("OHIF Viewer")})
    f = run(scan(site, HttpsProbe(options()), tls=ctx))
    r = http_result(f)
    assert r.scheme == "https"
    assert r.tls is not None
    assert r.tls.version in ("TLSv1.2", "TLSv1.3")
    assert r.tls.certificate is not None
    assert r.tls.certificate.self_signed
    assert "pacsaudit-test-https" in r.tls.certificate.subject
    assert [a.product for a in r.apps] == ["OHIF Viewer"]


# -- hostile peers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "kind", "detail"),
    [
        (peers.slowloris_headers, ErrorKind.READ_TIMEOUT, "request-timeout"),
        (peers.huge_headers, ErrorKind.PROTOCOL_VIOLATION, "not-http"),
        (peers.garbage, ErrorKind.PROTOCOL_VIOLATION, "not-http"),
    ],
    ids=["slowloris", "huge-headers", "garbage"],
)
def test_hostile_root_is_an_error_within_bounds(
    handler: Any, kind: ErrorKind, detail: str, run: Runner[Finding]
) -> None:
    started = time.monotonic()
    f = run(scan(handler))
    assert time.monotonic() - started < 3.0
    assert f.status is Status.ERROR
    assert f.error is not None
    assert (f.error.kind, f.error.detail) == (kind, detail)
    assert isinstance(f.result, HttpResult)
    assert len(f.result.exchanges) == 1


def test_garbage_banner_is_printable_and_bounded(run: Runner[Finding]) -> None:
    f = run(scan(peers.garbage))
    assert isinstance(f.result, HttpResult)
    assert f.result.banner is not None
    assert f.result.banner.startswith("\\x16\\x03\\x01")
    assert len(f.result.banner) <= 96 * 4


def test_endless_body_is_capped(run: Runner[Finding]) -> None:
    started = time.monotonic()
    r = http_result(run(scan(peers.endless_body)))
    assert time.monotonic() - started < 4.0
    root = r.exchanges[0]
    assert root.truncated
    assert root.bytes_read == 64 * 1024


def test_redirect_loop_is_cut(run: Runner[Finding]) -> None:
    r = http_result(run(scan(peers.redirect_loop)))
    root = r.exchanges[0]
    assert (root.status_code, root.redirects, root.note) == (302, 3, "redirect-limit")


def test_redirect_off_target_is_not_followed(run: Runner[Finding]) -> None:
    """The guard in conftest.py would fail the test on any connection outside loopback."""
    r = http_result(run(scan(peers.off_target_redirect)))
    root = r.exchanges[0]
    assert (root.status_code, root.redirects, root.note) == (301, 0, "redirect-off-target")


def test_decompression_bomb_is_capped(run: Runner[Finding]) -> None:
    r = http_result(run(scan(peers.gzip_bomb)))
    root = r.exchanges[0]
    assert root.truncated
    assert root.bytes_read == 64 * 1024


def test_closed_port(run: Runner[Finding]) -> None:
    from hostile_servers import closed_port

    f = run(HttpProbe(options()).scan(Target("127.0.0.1", closed_port())))
    assert f.status is Status.CLOSED
    assert f.result is None


def test_findings_validate_against_the_schema(run: Runner[Finding]) -> None:
    import jsonschema

    schema = json.loads(
        (Path(__file__).resolve().parents[3] / "schemas" / "finding.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    site = orthanc_behind_basic("orthanc", "orthanc")
    findings = [
        run(scan(Site(routes={"/dicom-web/studies": qido([study(n) for n in range(3)])}))),
        run(scan(site, HttpProbe(options(try_default_credentials=True)))),
        run(scan(peers.garbage)),
    ]
    for f in findings:
        errors = [e.message for e in validator.iter_errors(json.loads(encode_finding(f)))]
        assert errors == []
