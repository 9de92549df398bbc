"""Is ``/`` a file share? A WebDAV folder (``OPTIONS`` announces DAV class 1) or a directory
listing page (:mod:`pacsaudit.probes.http.indexes`).

Apart from the walk (:mod:`pacsaudit.probes.http.webshare`) because it runs on every web
server the probe meets, and the walk imports pydicom, which a server without a listing never
needs.
"""

from __future__ import annotations

import asyncio
import time

import httpcore
import httpx

from pacsaudit.model import HttpExchange
from pacsaudit.probes.http.davxml import announces_dav
from pacsaudit.probes.http.indexes import recognise
from pacsaudit.probes.http.transport import Fetched, WebSession, httpx_error

WEBDAV = "webdav"
"""The listing format of a WebDAV share (the others are :data:`indexes.FORMATS` keys)."""
LISTING_ACCEPT = "text/html,application/json;q=0.9,*/*;q=0.5"
"""The root page's Accept, sent again for every folder so that each answers in one format."""
HTTP_ERRORS = (httpx.HTTPError, httpcore.ConnectionNotAvailable, httpcore.ProtocolError)
_KEPT = ("content-type", "dav")


async def raw_request(
    session: WebSession,
    method: str,
    url: str,
    headers: dict[str, str],
    cap: int,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes, bool]:
    """One request on the session's pool, body capped at ``cap``: status, the ``Content-Type``
    and ``DAV`` headers, the body, whether it was cut. Not recorded in ``exchanges``: the
    caller decides (a walk's paths name folders, and those can name patients)."""
    client = session.client
    request = client.build_request(method, session.origin + url, headers=headers, content=body)
    try:
        response = await client.send(request, stream=True)
        try:
            kept = {k: response.headers[k] for k in _KEPT if k in response.headers}
            out = bytearray()
            async for chunk in response.aiter_raw():
                out += chunk
                if len(out) > cap:
                    return response.status_code, kept, bytes(out[:cap]), True
            return response.status_code, kept, bytes(out), False
        finally:
            await response.aclose()
    except HTTP_ERRORS as exc:
        raise httpx_error(exc) from exc


async def detect(session: WebSession, root: Fetched) -> tuple[str | None, str | None]:
    """``(share format, index format)``: ``webdav`` where ``OPTIONS /`` announces DAV, else
    the listing page's format; the second is the page's format either way (the fallback of a
    DAV share that refuses ``PROPFIND``). ``(None, None)``: not a share.

    A ``/`` that redirected elsewhere is not walked as a listing: its links are relative to
    a folder the walk does not know, and guessing it would count the wrong paths."""
    direct = root.ok and root.exchange.redirects == 0
    index = recognise(root.body, root.content_type()) if direct else None
    if await _announces_dav(session):
        return WEBDAV, index
    return index, index


async def _announces_dav(session: WebSession) -> bool:
    """``OPTIONS /`` and its ``DAV`` header (RFC 4918 §10.1); recorded like the probe's other
    requests."""
    if session.exhausted():
        return False
    started = time.perf_counter()
    session.requests += 1
    status: int | None = None
    dav = False
    note: str | None = None
    try:
        async with asyncio.timeout(min(session.limits.request_timeout, session.remaining())):
            status, kept, _, _ = await raw_request(session, "OPTIONS", "/", {"Accept": "*/*"}, 4096)
        dav = announces_dav(kept.get("dav"))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # an OPTIONS the server chokes on: simply no WebDAV
        note = f"error {type(exc).__name__[:32]}"
    session.exchanges.append(
        HttpExchange(
            path="/",
            purpose="webdav-options",
            status_code=status,
            note=note,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )
    )
    return dav
