# ruff: noqa: E501  (the pages are kept in their generators' own line layout)
"""Listing pages recognised by structure and read into entries; WebDAV multistatus parsing.

nginx and http.server pages are the real servers' (``test_web_listing.py``); the pages below
follow the formats their generators write, as the signatures' comments cite (Apache
mod_autoindex.c, lighttpd mod_dirlisting.c, Caddy browse.html and its JSON, IIS directory
browsing). Names here are made up.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pacsaudit.probes.fileshare.walk import EntryKind
from pacsaudit.probes.http.davxml import NotMultistatus, announces_dav, parse_multistatus
from pacsaudit.probes.http.indexes import CADDY_JSON, child_name, parse_index, recognise

BASE = httpx.URL("http://127.0.0.1:8080/data/")

NGINX = b"""<html>
<head><title>Index of /data/</title></head>
<body>
<h1>Index of /data/</h1><hr><pre><a href="../">../</a>
<a href="CT%20scans/">CT scans/</a>                                          03-Dec-2026 06:00                   -
<a href="a.dcm">a.dcm</a>                                              03-Dec-2026 06:00              123456
</pre><hr></body>
</html>
"""
APACHE = b"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /data</title>
 </head>
 <body>
<h1>Index of /data</h1>
  <table>
   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th></tr>
   <tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td></tr>
<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="CT/">CT/</a></td><td align="right">2026-12-03 06:00  </td><td align="right">  - </td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="a.dcm">a.dcm</a></td><td align="right">2026-12-03 06:00  </td><td align="right">121K</td></tr>
  </table>
<address>Apache/2.4.62 (Debian) Server at 127.0.0.1 Port 8080</address>
</body></html>
"""
LIGHTTPD = b"""<!DOCTYPE html>
<html>
<head>
<title>Index of /data/</title>
</head>
<body>
<h2>Index of /data/</h2>
<div class="list">
<table summary="Directory Listing" cellpadding="0" cellspacing="0">
<thead><tr><th class="n">Name</th><th class="m">Last Modified</th><th class="s">Size</th><th class="t">Type</th></tr></thead>
<tbody>
<tr class="d"><td class="n"><a href="../">..</a>/</td><td class="m">&nbsp;</td><td class="s">- &nbsp;</td><td class="t">Directory</td></tr>
<tr class="d"><td class="n"><a href="CT/">CT</a>/</td><td class="m">2026-Dec-03 06:00:00</td><td class="s">- &nbsp;</td><td class="t">Directory</td></tr>
<tr><td class="n"><a href="a.dcm">a.dcm</a></td><td class="m">2026-Dec-03 06:00:00</td><td class="s">120.5K</td><td class="t">application/octet-stream</td></tr>
</tbody>
</table>
</div>
<div class="foot">lighttpd/1.4.69</div>
</body>
</html>
"""
CADDY = b"""<!DOCTYPE html>
<html>
<head><title>/data/</title></head>
<body>
<main>
<table aria-describedby="summary">
<tbody>
<tr class="file"><td></td><td><a href="./CT/"><span class="name">CT</span></a></td><td data-order="-1">&mdash;</td></tr>
<tr class="file"><td></td><td><a href="./a.dcm"><span class="name">a.dcm</span></a></td><td class="size" data-size="123456"><div class="sizebar">121 KiB</div></td></tr>
</tbody>
</table>
</main>
<footer>Served with <a rel="noopener noreferrer" href="https://caddyserver.com">Caddy</a></footer>
</body>
</html>
"""
CADDY_DOC = (
    b'[{"name":"CT","size":4096,"url":"./CT/","mod_time":"2026-12-03T06:00:00Z","mode":2147484141,'
    b'"is_dir":true,"is_symlink":false},{"name":"a.dcm","size":123456,"url":"./a.dcm",'
    b'"mod_time":"2026-12-03T06:00:00Z","mode":420,"is_dir":false,"is_symlink":false}]'
)
IIS = b"""<html><head><title>host - /data/</title></head><body><H1>host - /data/</H1><hr>

<pre><A HREF="/">[To Parent Directory]</A><br><br> 12/3/2026  6:00 AM        &lt;dir&gt; <A HREF="/data/CT/">CT</A><br> 12/3/2026  6:00 AM       123456 <A HREF="/data/a.dcm">a.dcm</A><br></pre><hr></body></html>
"""
PYTHON = b"""<!DOCTYPE HTML>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Directory listing for /data/</title>
</head>
<body>
<h1>Directory listing for /data/</h1>
<hr>
<ul>
<li><a href="CT/">CT/</a></li>
<li><a href="a.dcm">a.dcm</a></li>
</ul>
<hr>
</body>
</html>
"""


@pytest.mark.parametrize(
    ("page", "ctype", "fmt", "size"),
    [
        (NGINX, "text/html", "nginx-autoindex", 123456),
        (APACHE, "text/html", "apache-autoindex", None),
        (LIGHTTPD, "text/html", "lighttpd-dirlisting", None),
        (CADDY, "text/html", "caddy-browse", None),
        (CADDY_DOC, "application/json", CADDY_JSON, 123456),
        (IIS, "text/html", "iis-directory-browsing", 123456),
        (PYTHON, "text/html", "python-http-server", None),
    ],
)
def test_each_format_is_recognised_and_read(
    page: bytes, ctype: str, fmt: str, size: int | None
) -> None:
    assert recognise(page, ctype) == fmt
    entries = {e.name: e for e in parse_index(page, fmt, BASE)}
    assert set(entries) in ({"CT", "a.dcm"}, {"CT scans", "a.dcm"})
    folder = next(e for n, e in entries.items() if n != "a.dcm")
    assert folder.kind is EntryKind.DIR
    assert entries["a.dcm"].kind is EntryKind.FILE
    assert entries["a.dcm"].size == size


@pytest.mark.parametrize(
    "page",
    [
        b"<html><head><title>Welcome to nginx!</title></head><body>Index of nothing</body></html>",
        b"<html><head><title>Index of the hospital's services</title></head><body>"
        b"<a href='a.dcm'>a</a></body></html>",  # a title is not enough: no structure
        b"<html><head><title>Orthanc Explorer</title></head></html>",
        b"",
        b"\xff\xfe garbage \x00" * 50,
    ],
)
def test_ordinary_pages_are_not_listings(page: bytes) -> None:
    assert recognise(page, "text/html") is None


def test_listing_mimicry_in_a_non_html_type_is_ignored() -> None:
    assert recognise(NGINX, "application/octet-stream") is None
    assert recognise(b'[{"name": 1}]', "application/json") is None


@pytest.mark.parametrize(
    ("href", "child"),
    [
        ("a.dcm", ("a.dcm", False)),
        ("sub/", ("sub", True)),
        ("/data/x%2Fy", None),  # an encoded slash: no such name can exist in one folder
        ("x%20y.dcm", ("x y.dcm", False)),
        ("../", None),
        ("/", None),
        ("?C=N;O=D", None),
        ("a/b.dcm", None),  # deeper: walked from its own folder, if at all
        ("http://192.0.2.3/data/a.dcm", None),  # another host
        ("//example.invalid/data/a.dcm", None),
        ("http://127.0.0.1:8081/data/a.dcm", None),  # another port
        ("https://127.0.0.1:8080/data/a.dcm", None),  # another scheme
        ("http://127.0.0.1:8080/data/b.dcm", ("b.dcm", False)),
        ("javascript:alert(1)", None),
        ("x" * 5000, None),
    ],
)
def test_only_direct_children_on_the_same_origin(href: str, child: tuple[str, bool] | None) -> None:
    got = child_name(BASE, href)
    if got is not None and "/" in got[0]:
        got = None  # the walk refuses such names itself (counted as a walk error)
    assert got == child


MULTISTATUS = b"""<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
<D:response><D:href>/data/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/data/CT/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>http://127.0.0.1:8080/data/a.dcm</D:href><D:propstat><D:prop><D:getcontentlength>123456</D:getcontentlength><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>http://198.51.100.9/data/evil.dcm</D:href><D:propstat><D:prop><D:getcontentlength>1</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/data/huge.dcm</D:href><D:propstat><D:prop><D:getcontentlength>99999999999999999999999</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>
"""


def test_multistatus_children() -> None:
    entries = {e.name: e for e in parse_multistatus(MULTISTATUS, BASE)}
    assert set(entries) == {"CT", "a.dcm", "huge.dcm"}
    assert entries["CT"].kind is EntryKind.DIR
    assert entries["a.dcm"].size == 123456
    assert entries["huge.dcm"].size is None  # a size no file has


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b'<D:multistatus xmlns:D="DAV:">&lol2;</D:multistatus>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b"<html>not xml",
        b'<?xml version="1.0"?><other xmlns="urn:x"/>',
    ],
)
def test_hostile_or_foreign_xml_is_refused(body: bytes) -> None:
    with pytest.raises(NotMultistatus):
        parse_multistatus(body, BASE)


@pytest.mark.parametrize(
    ("header", "dav"),
    [
        ("1", True),
        ("1, 2", True),
        ("1,2, access-control", True),
        ("2", False),
        ("", False),
        (None, False),
        ("11", False),
    ],
)
def test_dav_compliance_classes(header: str | None, dav: bool) -> None:
    assert announces_dav(header) is dav


PAGES = Path(__file__).parent / "pages"
"""Pages of real servers listing a folder ``/sub/`` that holds ``b c.dcm``, captured from
Debian 12's lighttpd 1.4.69, Apache 2.4.71 (mod_autoindex in its three layouts) and
Caddy 2.6.2 (``file_server browse``, HTML and JSON)."""


@pytest.mark.parametrize(
    ("name", "ctype", "fmt"),
    [
        ("lighttpd-1.4.69.html", "text/html", "lighttpd-dirlisting"),
        ("apache-2.4.71-fancyindexing.html", "text/html", "apache-autoindex"),
        ("apache-2.4.71-fancyindexing-htmltable.html", "text/html", "apache-autoindex"),
        ("apache-2.4.71-plain.html", "text/html", "apache-autoindex"),
        ("caddy-2.6.2.html", "text/html", "caddy-browse"),
        ("caddy-2.6.2.json", "application/json", CADDY_JSON),
    ],
)
def test_pages_of_real_servers(name: str, ctype: str, fmt: str) -> None:
    body = (PAGES / name).read_bytes()
    assert recognise(body, ctype) == fmt
    entries = parse_index(body, fmt, httpx.URL("http://127.0.0.1:18094/sub/"))
    assert [(e.name, e.kind) for e in entries] == [("b c.dcm", EntryKind.FILE)]
    if fmt == CADDY_JSON:
        assert entries[0].size == 2
