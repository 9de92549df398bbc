"""Listings that misbehave in ways no real server does: an endless listing page, a file that
never ends behind an ignored ``Range``, links and redirects that lead elsewhere, a WebDAV
answer with an entity bomb. Each must end within its bounds, keep nothing but counts, and
never connect anywhere but the target (the test-wide loopback guard would fail the test).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hostile_servers import PeerServer
from pacsaudit.measure.classify import classify_all
from pacsaudit.model import ExposureClass, FileShareResult, Finding, HttpResult
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.http.options import HttpOptions, Limits
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.targets.spec import Target
from probes.http.peers import ENDLESS, Request, Site, read_request, response

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
DICOM_HEAD = b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\0"


def nginx_page(path: str, rows: list[str]) -> bytes:
    lines = "\n".join(f'<a href="{href}">{href}</a>   03-Dec-2026 06:00    -' for href in rows)
    return (
        f"<html>\r\n<head><title>Index of {path}</title></head>\r\n<body>\r\n"
        f'<h1>Index of {path}</h1><hr><pre><a href="../">../</a>\n{lines}\n</pre><hr></body>\n'
        "</html>\n"
    ).encode()


def html(page: bytes) -> Callable[[Request], bytes]:
    return lambda _req: response(200, page, headers={"Content-Type": "text/html"})


def scan(handler: Handler, **walk: Any) -> tuple[list[Finding], float, PeerServer]:
    options = HttpOptions(
        budget=8.0,
        read_timeout=1.0,
        limits=Limits(request_timeout=2.0, page_bytes=64 * 1024),
        walk=WalkOptions(read_timeout=1.0, **walk),
    )

    async def run() -> tuple[Finding, PeerServer]:
        async with PeerServer(handler) as server:
            found = await HttpProbe(options).scan(Target("127.0.0.1", server.port))
            return found, server

    started = time.monotonic()
    finding, server = asyncio.run(run())
    return classify_all([finding]), time.monotonic() - started, server


def share_of(findings: list[Finding]) -> FileShareResult:
    result = findings[0].result
    assert isinstance(result, HttpResult)
    assert result.listing is not None
    return result.listing


async def endless_listing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """``/`` starts like nginx's autoindex and never ends (chunked, a row per chunk)."""
    while (req := await read_request(reader)) is not None:
        if req.path != "/" or req.method != "GET":
            writer.write(response(404))
            await writer.drain()
            continue
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        head = nginx_page("/", [])[:-30]
        writer.write(f"{len(head):x}\r\n".encode() + head + b"\r\n")
        for n in range(ENDLESS):
            row = f'<a href="f{n}.dcm">f{n}.dcm</a>   03-Dec-2026 06:00    1\n'.encode()
            writer.write(f"{len(row):x}\r\n".encode() + row + b"\r\n")
            await writer.drain()
        return


def test_endless_listing_is_cut_by_the_page_cap() -> None:
    findings, elapsed, _ = scan(endless_listing, max_reads=5)
    share = share_of(findings)
    assert elapsed < 8.0
    assert "max-entries" in share.bounds_hit  # the page was cut: the listing is a lower bound
    assert share.lower_bound
    assert 0 < share.files < 5000  # what 64 KiB of rows hold


def range_ignoring_site(events: list[str]) -> Handler:
    """``/`` lists two files; ``GET`` of either answers 200 (Range ignored) with a DICOM header
    that never reaches Pixel Data, then 100 MB more. ``events`` records each file's request and
    the moment its connection was dropped by the client."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await read_request(reader)) is not None:
            if req.path == "/" and req.method == "GET":
                writer.write(html(nginx_page("/", ["a.dcm", "b.dcm"]))(req))
            elif req.path in ("/a.dcm", "/b.dcm"):
                events.append(f"{req.path} {req.headers.get('range')}")
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"
                try:
                    writer.write(head + DICOM_HEAD)
                    for _ in range(ENDLESS):
                        writer.write(b"\x08\x00" * 2048)
                        await writer.drain()
                except ConnectionError:
                    events.append(f"{req.path} dropped")
                    raise
                return
            else:
                writer.write(response(404))
            await writer.drain()

    return handler


def test_ignored_range_reads_only_the_cap_and_drops_the_connection() -> None:
    events: list[str] = []
    findings, elapsed, _ = scan(range_ignoring_site(events), max_header_bytes=8192)
    share = share_of(findings)
    assert elapsed < 8.0
    assert share.dicom_files == 2
    assert share.headers_sampled == 2
    assert share.headers_truncated == 2
    assert share.bytes_read == 2 * 8192  # the sample's cap, not the 100 MB offered
    # Each file's connection is dropped once the cap is read, before the next request.
    assert events == [
        "/a.dcm bytes=0-131",
        "/a.dcm dropped",
        "/b.dcm bytes=0-131",
        "/b.dcm dropped",
    ]


def ranged(data: bytes) -> Callable[[Request], bytes]:
    """A file served as a well-behaved server does: 206 for ``Range: bytes=A-B``."""

    def route(req: Request) -> bytes:
        first, _, last = req.headers.get("range", "bytes=0-").removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
        if start >= len(data):
            return response(416)
        cr = f"bytes {start}-{end}/{len(data)}"
        return response(206, data[start : end + 1], headers={"Content-Range": cr})

    return route


def off_origin_site() -> Site:
    rows = [
        "ok.dcm",
        "http://203.0.113.13/secret.dcm",
        "//example.invalid/x.dcm",
        "https://127.0.0.1/y.dcm",
        "/etc/passwd",
        "../../etc/shadow",
        "?C=N;O=D",
        "moved/",
    ]
    page = nginx_page("/", rows)
    return Site(
        routes={
            "/": html(page),
            "/ok.dcm": ranged(DICOM_HEAD + b"\xe0\x7f\x10\x00OW\0\0\4\0\0\0abcd"),
            "/moved/": lambda _r: response(302, headers={"Location": "http://203.0.113.13/"}),
        }
    )


def test_links_and_redirects_elsewhere_are_not_followed() -> None:
    site = off_origin_site()
    findings, _, _ = scan(site)
    share = share_of(findings)
    assert share.files == 1  # ok.dcm; every other link leads off the tree
    assert share.dicom_files == 1
    assert share.walk_errors == 1  # moved/: a redirect is not a listing
    assert share.headers_sampled == 1
    asked = " ".join(r.target for r in site.requests)
    for elsewhere in ("secret", "passwd", "shadow", "x.dcm", "y.dcm"):
        assert elsewhere not in asked


def dav_bomb_site() -> Site:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<D:multistatus xmlns:D="DAV:"><D:response><D:href>/&c;</D:href></D:response>'
        b"</D:multistatus>"
    )

    def route(req: Request) -> bytes:
        if req.method == "OPTIONS":
            return response(200, headers={"DAV": "1, 2", "Allow": "OPTIONS, PROPFIND"})
        if req.method == "PROPFIND":
            return response(207, bomb, headers={"Content-Type": "application/xml"})
        return response(403)

    return Site(routes={"/": route})


def test_webdav_entity_bomb_is_not_parsed() -> None:
    findings, elapsed, _ = scan(dav_bomb_site())
    result = findings[0].result
    assert isinstance(result, HttpResult)
    assert result.listing_format == "webdav"
    assert result.listing is not None
    assert result.listing.files == 0
    assert not result.listing.anonymous  # nothing could be listed
    assert result.exposure_class is not ExposureClass.PHI_READABLE
    assert elapsed < 8.0


def test_a_root_that_redirects_to_a_listing_is_not_walked() -> None:
    """Its links are relative to a folder the walk would have to guess."""
    page = nginx_page("/share/", ["a.dcm"])
    site = Site(
        routes={
            "/": lambda _r: response(301, headers={"Location": "/share/"}),
            "/share/": html(page),
        }
    )
    findings, _, _ = scan(site)
    result = findings[0].result
    assert isinstance(result, HttpResult)
    assert result.listing_format is None
    assert result.listing is None
    assert not any(r.path == "/a.dcm" for r in site.requests)
