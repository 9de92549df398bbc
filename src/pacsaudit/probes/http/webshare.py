"""Open directory listings and WebDAV folders walked as file shares.

A web server listing folders without a login is a file share: the same bounded walk as FTP,
SMB and rsync (:func:`pacsaudit.probes.fileshare.walk.walk_share`, its bounds and counts) runs
through one of two :class:`~pacsaudit.probes.fileshare.walk.ShareBackend` implementations here:

- :class:`IndexBackend` reads listing pages (``GET``, formats in
  :mod:`pacsaudit.probes.http.indexes`);
- :class:`DavBackend` asks ``PROPFIND`` with ``Depth: 1`` (:mod:`pacsaudit.probes.http.davxml`),
  and only where ``OPTIONS /`` announced DAV class 1.

Both read files the same way, with ``Range`` requests: ``bytes=0-131`` decides DICOM by its
magic, a header sample asks on up to ``--max-header-bytes`` and stops reading at Pixel Data. A
server that ignores ``Range`` (200 instead of 206) is read up to what the walk wants and the
connection is dropped: never a whole file. Only ``OPTIONS``, ``PROPFIND``, ``GET`` are sent:
nothing is ever written to the server.

The walk's requests are not recorded one by one in ``exchanges`` (their paths name folders,
and folders on imaging shares name patients): the share result's counts stand for them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from pacsaudit.model import FileShareResult, ShareAccess
from pacsaudit.probes.fileshare.indicators import IndicatorList
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.fileshare.walk import (
    LOOP,
    READ_CHUNK,
    Entry,
    EntryError,
    EntryKind,
    Listing,
    WalkTally,
    Want,
    walk_share,
)
from pacsaudit.probes.http.davxml import PROPFIND_BODY, NotMultistatus, parse_multistatus
from pacsaudit.probes.http.indexes import parse_index, recognise
from pacsaudit.probes.http.listings import (
    HTTP_ERRORS,
    LISTING_ACCEPT,
    WEBDAV,
    raw_request,
)
from pacsaudit.probes.http.transport import Fetched, WebSession, httpx_error, printable


@dataclass
class _Client:
    """Raw requests of a walk on the session's connection pool and target."""

    session: WebSession
    page_bytes: int
    requests: int = 0
    listed: dict[tuple[str, ...], frozenset[tuple[str, str, int | None]]] = field(
        default_factory=dict
    )

    def check_loop(self, path: tuple[str, ...], entries: list[Entry]) -> None:
        """Raise the walk's loop error when ``path`` lists exactly what one of its ancestors
        listed, files included: a symbolic link back up the tree. A web server shows no inode
        (nginx's WebDAV follows links even with ``disable_symlinks on``), so the listing is
        the folder's identity; without a file in it, two folders are too easily alike."""
        seen = frozenset((e.name, str(e.kind), e.size) for e in entries)
        if any(e.kind is EntryKind.FILE for e in entries):
            for depth in range(len(path)):
                if self.listed.get(path[:depth]) == seen:
                    raise EntryError(LOOP)
        self.listed[path] = seen

    def url(self, path: tuple[str, ...], *, folder: bool) -> str:
        joined = "/".join(quote(n, safe="") for n in path)
        if not joined:
            return "/"
        return f"/{joined}/" if folder else f"/{joined}"

    def base(self, path: tuple[str, ...]) -> httpx.URL:
        return httpx.URL(self.session.origin + self.url(path, folder=True))

    async def page(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes, bool]:
        self.requests += 1
        return await raw_request(self.session, method, url, headers, self.page_bytes, body)

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        """The file's first bytes by ``Range`` requests, as many as ``want`` asks."""
        url = self.url(path, folder=False)
        buffer = bytearray()
        while (need := want(bytes(buffer))) > len(buffer):
            if await self._range(url, buffer, need, want):
                return bytes(buffer), True
        return bytes(buffer), False

    async def _range(self, url: str, buffer: bytearray, need: int, want: Want) -> bool:
        """Append ``buffer[len:need]``; True when the file ended first. A server that ignores
        ``Range`` is read from the start up to what ``want`` asks, then the connection is
        dropped (closing an unfinished response closes it)."""
        self.requests += 1
        start = len(buffer)
        client = self.session.client
        headers = {"Range": f"bytes={start}-{need - 1}", "Accept": "*/*"}
        request = client.build_request("GET", self.session.origin + url, headers=headers)
        try:
            response = await client.send(request, stream=True)
            try:
                if response.status_code == 416:
                    return True  # nothing at that offset: the file is shorter
                partial = response.status_code == 206
                if response.status_code == 200:
                    buffer.clear()  # the whole file from its first byte, whatever we asked
                elif response.status_code == 206:
                    if not _range_starts_at(response.headers.get("content-range"), start):
                        raise EntryError("bad-range")
                else:
                    raise EntryError(f"http-{response.status_code}")
                return await _fill(response, buffer, want, need if partial else None)
            finally:
                await response.aclose()
        except HTTP_ERRORS as exc:
            raise httpx_error(exc) from exc


async def _fill(response: httpx.Response, buffer: bytearray, want: Want, need: int | None) -> bool:
    """Append the body to ``buffer`` a chunk at a time while ``want`` (and the range asked,
    ``need``) asks for more; True when the body ended first. What the network delivered past
    that point is dropped unread."""
    pending = bytearray()

    def limit() -> int:
        wanted = want(bytes(buffer))
        return wanted if need is None else min(need, wanted)

    async for chunk in response.aiter_raw():
        pending += chunk
        while pending:
            room = limit() - len(buffer)
            if room <= 0:
                return False
            take = min(len(pending), room, READ_CHUNK)
            buffer += pending[:take]
            del pending[:take]
    return len(buffer) < limit()


def _range_starts_at(header: str | None, start: int) -> bool:
    """``Content-Range: bytes START-END/TOTAL`` (RFC 9110 §14.4) starts where we asked."""
    if not header or not header[:64].lower().startswith("bytes "):
        return False
    first = header[6:64].split("-", 1)[0].strip()
    return first.isdigit() and int(first) == start


class IndexBackend:
    """A share walked through listing pages of one format (the root page's)."""

    can_read = True

    def __init__(self, client: _Client, fmt: str, root: Fetched) -> None:
        self.client = client
        self.fmt = fmt
        self._root: Fetched | None = root

    async def list_dir(self, path: tuple[str, ...], limit: int) -> Listing:
        if not path and self._root is not None:  # the page the probe already fetched
            root, self._root = self._root, None
            body, truncated, ctype = root.body, root.truncated, root.content_type()
        else:
            headers = {"Accept": LISTING_ACCEPT}
            status, kept, body, truncated = await self.client.page(
                "GET", self.client.url(path, folder=True), headers
            )
            if not 200 <= status < 300:
                raise EntryError(f"http-{status}")
            ctype = kept.get("content-type", "").split(";", 1)[0].strip().lower()
        if recognise(body, ctype) != self.fmt:
            raise EntryError("not-a-listing")  # an index.html, an error page: not walked
        entries = parse_index(body, self.fmt, self.client.base(path))
        self.client.check_loop(path, entries)
        return Listing(entries[:limit], truncated=truncated or len(entries) > limit)

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        return await self.client.read_prefix(path, want)


class DavBackend:
    """A WebDAV share walked with ``PROPFIND`` at ``Depth: 1``."""

    can_read = True

    def __init__(self, client: _Client) -> None:
        self.client = client

    async def list_dir(self, path: tuple[str, ...], limit: int) -> Listing:
        headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
        status, _, body, truncated = await self.client.page(
            "PROPFIND", self.client.url(path, folder=True), headers, PROPFIND_BODY
        )
        if status != 207:
            raise EntryError(f"http-{status}")
        try:
            entries = parse_multistatus(body, self.client.base(path))
        except NotMultistatus as exc:
            raise EntryError("not-multistatus") from exc
        self.client.check_loop(path, entries)
        return Listing(entries[:limit], truncated=truncated or len(entries) > limit)

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        return await self.client.read_prefix(path, want)


_URL_LOGGERS = ("httpx", "httpcore")
"""httpx logs every request's URL at INFO (``HTTP Request: GET …``), httpcore its events at
DEBUG: a walk's URLs are folder and file names, and those can name patients."""


def quiet_http_loggers() -> None:
    """``--log-level DEBUG`` must stay free of the walk's paths (as of the share probes')."""
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


async def walk_listing(
    session: WebSession,
    root: Fetched,
    fmt: str,
    options: WalkOptions,
    indicators: IndicatorList,
    *,
    index_format: str | None,
) -> tuple[str, FileShareResult]:
    """Walk ``/`` as a share in the format :func:`~pacsaudit.probes.http.listings.detect`
    found; returns the format walked and the share's counts.

    WebDAV goes first (exact sizes, one format); a DAV share that refuses ``PROPFIND`` falls
    back to the listing page, if ``/`` is one (``index_format``), else it is a share that
    asked for credentials.
    """
    quiet_http_loggers()
    client = _Client(session, session.limits.page_bytes)
    server = printable(root.headers.get("server"), 96)
    if fmt == WEBDAV:
        result = await _walk(DavBackend(client), session, options, indicators, server)
        if result.anonymous or index_format is None:
            return WEBDAV, result
        fmt = index_format
    result = await _walk(IndexBackend(client, fmt, root), session, options, indicators, server)
    return fmt, result


async def _walk(
    backend: IndexBackend | DavBackend,
    session: WebSession,
    options: WalkOptions,
    indicators: IndicatorList,
    server: str | None,
) -> FileShareResult:
    deadline = min(session.deadline, time.monotonic() + options.budget)
    tally = WalkTally(options, indicators, deadline)
    share = tally.share("/")
    await walk_share(backend, share, tally)
    listed = share.access is ShareAccess.LISTED
    return tally.result(server=server, login="none" if listed else None, anonymous=listed)
