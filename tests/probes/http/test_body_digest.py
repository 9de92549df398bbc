"""Web applications known by the MD5 of a static file (``body_md5``): Carestream Vue Motion.

Vue Motion is closed; its public fingerprint (ProjectDiscovery's nuclei template
``carestream-vue-detect.yaml``) is the MD5 of ``/portal/favicon.ico`` or
``/portal/images/MyVue/MyVueHelp.png``. We do not have those files, and a server answering
with bytes of those digests cannot be built honestly, so the matcher is driven here by
test-local signatures whose digests are computed from the bytes the test serves (in-memory
sites and a real nginx); the shipped entry is checked as data, and pages of other products
and of nginx are shown not to be taken for it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from hostile_servers import PeerServer
from pacsaudit.model import Finding, Status
from pacsaudit.probes.http import signatures as sig
from pacsaudit.probes.http.options import HttpOptions
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.targets.spec import Target
from probes.http import peers
from probes.http.peers import Route, Site, response
from probes.http.test_webapps import apps, result_of, scan
from web_servers import running_nginx

FAVICON = "/portal/favicon.ico"
HELP_PNG = "/portal/images/MyVue/MyVueHelp.png"
VUE = "Carestream Vue Motion"
ICON = b"\x00\x00\x01\x00\x01\x00\x10\x10" + bytes(range(256)) * 12
"""Bytes shaped like an .ico header, then filler: not Carestream's icon (we do not have it)."""
LOCAL = "Test digest app"
Install = Callable[[sig.Signature], None]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def local_signature(*digests: str) -> sig.Signature:
    return sig.Signature(
        product=LOCAL,
        category="viewer",
        source="test-local: digests of the bytes this test serves",
        paths=[FAVICON, HELP_PNG],
        body_md5=list(digests),
    )


@pytest.fixture
def with_local(monkeypatch: pytest.MonkeyPatch) -> Install:
    """Install a test-local digest signature in the shipped Vue Motion entry's place (same
    paths, the test's digests); yields a setter."""

    def install(signature: sig.Signature) -> None:
        shipped = tuple(s for s in sig.signatures() if s.product != VUE)
        monkeypatch.setattr(sig, "signatures", lambda: (*shipped, signature))

    return install


def binary(data: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> Route:
    head = {"Content-Type": "image/x-icon", **(headers or {})}
    return lambda _r: response(status, data, headers=head)


def html(page: str) -> Route:
    body = page.encode()
    return lambda _r: response(200, body, headers={"Content-Type": "text/html"})


# -- the shipped entry ------------------------------------------------------------------------


def test_shipped_vue_motion_entry() -> None:
    [vue] = [s for s in sig.signatures() if s.product == VUE]
    assert vue.category == "viewer"
    assert vue.paths == [FAVICON, HELP_PNG]
    assert sorted(vue.body_md5) == [
        "1c4b2c10acccc48852d12eddadaf7944",
        "84054196570ecd7526894ccb6e7c5c6e",
    ]
    assert vue.when is None
    # Only the digests: no title, body, Server or realm string could name it.
    assert (vue.title, vue.body, vue.body_all, vue.server, vue.realm) == ([], [], [], [], [])
    assert "projectdiscovery/nuclei-templates" in vue.source
    assert "http/technologies/carestream-vue-detect.yaml" in vue.source
    assert "not checked against a device" in vue.source


def test_a_digest_that_is_not_md5_hex_is_refused_on_load() -> None:
    entry = {
        "product": "x",
        "category": "viewer",
        "source": "y",
        "body_md5": ["1C4B2C10ACCCC48852D12EDDADAF7944"],
    }
    doc = msgspec.json.encode({"about": "", "signatures": [entry]})
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(doc, type=sig._Signatures)


# -- the matcher ------------------------------------------------------------------------------


def test_body_md5_only_of_a_whole_200_body() -> None:
    whole = sig.body_md5(200, ICON, truncated=False, note=None)
    assert whole == md5(ICON)
    assert sig.body_md5(200, ICON, truncated=True, note=None) is None
    assert sig.body_md5(200, ICON, truncated=False, note="bad-encoding") is None
    assert sig.body_md5(206, ICON, truncated=False, note=None) is None
    assert sig.body_md5(404, ICON, truncated=False, note=None) is None
    assert sig.body_md5(200, b"", truncated=False, note=None) is None
    local = local_signature(md5(ICON))
    assert sig.match_page(local, body=ICON, server=None, realm=None, digest=whole) == "body"
    assert sig.match_page(local, body=ICON, server=None, realm=None, digest=None) is None
    other = sig.body_md5(200, ICON + b"\x00", truncated=False, note=None)
    assert sig.match_page(local, body=ICON, server=None, realm=None, digest=other) is None


def test_served_icon_recognised_and_the_second_path_not_asked(with_local: Install) -> None:
    with_local(local_signature(md5(ICON)))
    site = Site(routes={FAVICON: binary(ICON)})
    r = result_of(scan(site))
    assert apps(r)[LOCAL] == ("viewer", FAVICON, "body", False)
    asked = Counter(q.path for q in site.requests)
    assert asked[FAVICON] == 1
    assert asked[HELP_PNG] == 0  # stopped at the first match


def test_either_digest_on_either_path(with_local: Install) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 4
    with_local(local_signature(md5(ICON), md5(png)))
    site = Site(routes={HELP_PNG: binary(png, headers={"Content-Type": "image/png"})})
    r = result_of(scan(site))
    assert apps(r)[LOCAL] == ("viewer", HELP_PNG, "body", False)
    assert Counter(q.path for q in site.requests)[FAVICON] == 1  # asked first, 404


def test_gzip_encoded_icon_is_digested_decoded(with_local: Install) -> None:
    with_local(local_signature(md5(ICON)))
    site = Site(routes={FAVICON: binary(gzip.compress(ICON), headers={"Content-Encoding": "gzip"})})
    assert apps(result_of(scan(site)))[LOCAL][1] == FAVICON


def test_a_body_cut_at_the_cap_never_matches(with_local: Install) -> None:
    """Even a signature carrying the digest of exactly the prefix the cap keeps."""
    cap = len(ICON) // 2
    with_local(local_signature(md5(ICON), md5(ICON[:cap])))
    site = Site(routes={FAVICON: binary(ICON), HELP_PNG: binary(ICON)})
    r = result_of(scan(site, page_bytes=cap))
    assert LOCAL not in apps(r)
    cut = [e for e in r.exchanges if e.path in (FAVICON, HELP_PNG)]
    assert [(e.bytes_read, e.truncated) for e in cut] == [(cap, True), (cap, True)]


def test_an_endless_body_is_capped_and_not_matched(with_local: Install) -> None:
    """A peer that never ends its body: read up to the cap, and the digest of that prefix,
    carried by the signature, does not match."""
    cap = 64 * 1024
    chunk = b"<p>" + b"x" * 16_000 + b"</p>"  # what peers.endless_body repeats
    with_local(local_signature(md5((chunk * (cap // len(chunk) + 1))[:cap])))
    r = result_of(scan(peers.endless_body, page_bytes=cap))
    assert LOCAL not in apps(r)
    cut = [e for e in r.exchanges if e.path in (FAVICON, HELP_PNG)]
    assert cut
    assert all((e.bytes_read, e.truncated) == (cap, True) for e in cut)


def test_the_bytes_under_another_status_do_not_match(with_local: Install) -> None:
    with_local(local_signature(md5(ICON)))
    for status in (404, 203, 500):
        site = Site(routes={FAVICON: binary(ICON, status=status)})
        assert LOCAL not in apps(result_of(scan(site))), status


# -- not Vue ----------------------------------------------------------------------------------

PACSONE_LOGIN = """<html><head><title>Login</title></head><body><h2>PacsOne Server Login</h2>
<h3><font color=red>Not authorized to access this URL: /pacsone/php/home.php</font></h3>
</body></html>"""
MEDDREAM_LOGIN = """<html><head><title>Login</title></head><body><div id="loginSplash">
<h3>Not authorized to access this URL: /pacs/home.php</h3></div></body></html>"""
NGINX_WELCOME = """<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1></body></html>"""


def test_pacsone_meddream_and_nginx_pages_are_not_vue() -> None:
    """Their pages at Vue's own paths (a catch-all server), and at their own."""
    routes = {
        "/": html(NGINX_WELCOME),
        FAVICON: html(PACSONE_LOGIN),
        HELP_PNG: html(MEDDREAM_LOGIN),
        "/pacsone/php/login.php": html(PACSONE_LOGIN),
        "/pacs/login.php": html(MEDDREAM_LOGIN),
    }
    r = result_of(scan(Site(routes=routes)))
    found = apps(r)
    assert VUE not in found
    assert found["PacsOne Server"][1] == "/pacsone/php/login.php"
    assert found["MedDream PACS Server"][1] == "/pacs/login.php"
    catch_all = {p: html(NGINX_WELCOME) for p in ("/", FAVICON, HELP_PNG)}
    assert result_of(scan(Site(routes=catch_all))).apps == []


def test_real_nginx_serving_the_files(tmp_path: Path, with_local: Install) -> None:
    """nginx with files at Vue's paths: not Vue by the shipped digests; recognised through a
    real server's answer by a test-local signature of the bytes it serves."""
    tree = tmp_path / "tree"
    (tree / "portal" / "images" / "MyVue").mkdir(parents=True)
    (tree / "portal" / "favicon.ico").write_bytes(ICON)
    (tree / "portal" / "images" / "MyVue" / "MyVueHelp.png").write_bytes(ICON[::-1])
    opts = HttpOptions(budget=10.0, enumerate=False)
    with running_nginx(tmp_path / "nginx", tree, dav=False) as port:
        shipped = asyncio.run(HttpProbe(opts).scan(Target("127.0.0.1", port)))
        with_local(local_signature(md5(ICON[::-1])))
        local = asyncio.run(HttpProbe(opts).scan(Target("127.0.0.1", port)))
    assert shipped.status is Status.HTTP
    assert VUE not in apps(result_of(shipped))
    assert apps(result_of(local))[LOCAL] == ("viewer", HELP_PNG, "body", False)


# -- what it costs ----------------------------------------------------------------------------


def test_the_two_gets_only_on_a_web_server_that_is_not_locked() -> None:
    plain = Site()
    result_of(scan(plain))
    asked = Counter(q.path for q in plain.requests)
    assert (asked[FAVICON], asked[HELP_PNG]) == (1, 1)
    assert len(plain.requests) <= HttpOptions().max_requests
    locked = Site(basic=("u", "p"))
    result_of(scan(locked))
    assert not {FAVICON, HELP_PNG} & {q.path for q in locked.requests}
    r = result_of(scan(peers.garbage))  # not HTTP: only the first GET /
    assert [e.path for e in r.exchanges] == ["/"]


def test_the_digest_gets_come_after_dicomweb_and_within_the_request_budget() -> None:
    """A static file only names a product: its GETs are the survey's last, so a tight
    ``max_requests`` spends itself on DICOMweb first and never goes past the bound."""

    def asked(max_requests: int) -> list[str]:
        site = Site()
        opts = HttpOptions(budget=6.0, read_timeout=1.0, max_requests=max_requests)

        async def run() -> Finding:
            async with PeerServer(site) as server:
                return await HttpProbe(opts).scan(Target("127.0.0.1", server.port))

        asyncio.run(run())
        return [q.path for q in site.requests]

    full = asked(64)
    assert full.index(FAVICON) > full.index("/wado")
    assert full.index(HELP_PNG) == full.index(FAVICON) + 1
    budget = full.index(FAVICON)  # every request before the first digest GET
    tight = asked(budget)
    assert len(tight) == budget
    assert FAVICON not in tight
    assert "/dicom-web/studies" in tight
