"""Small HTTP peers for the HTTP probe's tests: well-behaved routes and hostile ones.

They run on :class:`hostile_servers.PeerServer` (127.0.0.1, ephemeral port, every connection
cut on exit). :class:`Site` answers from a table of routes, optionally behind HTTP Basic, and
records every request's headers — which is how a test proves that no ``Authorization`` header
is ever sent without ``--try-default-credentials``. The hostile handlers misbehave on purpose:
endless bodies, headers one byte at a time, headers larger than any sane limit, redirect loops,
garbage, a decompression bomb.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field

ENDLESS = 120_000
"""Rounds of a peer that "never stops": bounded all the same (every test loop ends by
itself), and far beyond the limits the probes must apply first."""

MAX_REQUEST_HEAD = 64 * 1024


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, str]:
        if "?" not in self.target:
            return {}
        pairs = [p.partition("=") for p in self.target.split("?", 1)[1].split("&")]
        return {k: v for k, _, v in pairs}


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request head (GETs carry no body); None when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" "), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Request(method, target, headers)


def response(
    status: int,
    body: bytes = b"",
    *,
    reason: str = "X",
    headers: dict[str, str] | None = None,
) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    for name, value in (headers or {}).items():
        head.append(f"{name}: {value}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


Route = Callable[[Request], bytes]


def json_route(doc: object, *, content_type: str = "application/json") -> Route:
    data = json.dumps(doc).encode()
    return lambda _req: response(200, data, headers={"Content-Type": content_type})


def html_route(title: str) -> Route:
    page = f"<html><head><title>{title}</title></head><body>hello</body></html>".encode()
    return lambda _req: response(200, page, headers={"Content-Type": "text/html"})


@dataclass
class Site:
    """Routes by path; 404 elsewhere; optional Basic auth on everything."""

    routes: dict[str, Route] = field(default_factory=dict)
    basic: tuple[str, str] | None = None
    realm: str = "Restricted"
    requests: list[Request] = field(default_factory=list)

    def authorised(self, req: Request) -> bool:
        if self.basic is None:
            return True
        want = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
        return req.headers.get("authorization") == f"Basic {want}"

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(200):  # keep-alive, bounded
            req = await read_request(reader)
            if req is None:
                return
            self.requests.append(req)
            if not self.authorised(req):
                writer.write(
                    response(
                        401,
                        headers={"WWW-Authenticate": f'Basic realm="{self.realm}"'},
                    )
                )
            elif req.path in self.routes:
                writer.write(self.routes[req.path](req))
            else:
                writer.write(response(404))
            await writer.drain()


# -- hostile handlers ---------------------------------------------------------------------------


async def endless_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """200 with a chunked body that never ends, as fast as the client reads."""
    await read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n"
    )
    chunk = b"<p>" + b"x" * 16_000 + b"</p>"
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    for _ in range(ENDLESS):  # "forever" for the probe; the loop still ends by itself
        writer.write(frame)
        await writer.drain()


async def slowloris_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A status line, then one header byte every 50 ms, forever: no read ever times out."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(ENDLESS):  # 100 minutes at this pace: far past every probe budget
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.05)


async def huge_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Headers that never end, as fast as the client reads."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Filler: " + b"a" * 8000 + b"\r\n"
    for _ in range(ENDLESS):  # about 1 GB: far past the probe's header limit
        writer.write(line)
        await writer.drain()


async def redirect_loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Every path redirects to a new one (/r1 -> /r2 -> ...), forever."""
    for n in range(1000):
        req = await read_request(reader)
        if req is None:
            return
        writer.write(response(302, headers={"Location": f"/r{n + 1}"}))
        await writer.drain()


async def off_target_redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Every path redirects to another host (a documentation address nobody may contact)."""
    for _ in range(100):
        req = await read_request(reader)
        if req is None:
            return
        writer.write(response(301, headers={"Location": "http://203.0.113.9/dicom-web/"}))
        await writer.drain()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"\x16\x03\x01\x00\xff garbage, not HTTP \x00\x01\x02" * 4)
    await writer.drain()
    await reader.read()


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\x00" * (64 << 20), compresslevel=9)


async def gzip_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A small gzip body that inflates to 64 MiB, sent although we asked for identity."""
    bomb = _bomb()
    for _ in range(50):
        req = await read_request(reader)
        if req is None:
            return
        writer.write(
            response(
                200,
                bomb,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        )
        await writer.drain()
