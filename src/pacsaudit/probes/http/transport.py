"""httpx on pacsaudit's dialer: every connection to the target, through ``connect_ex``.

httpx's own transport connects with ``loop.create_connection(host, port)``; under uvloop that
happens in C, out of sight of the test suite's loopback guard and of ``--exclude``'s promise.
So the connection pool gets a network backend built on :func:`pacsaudit.net.stream.
open_connection`: it ignores the host name in the URL and connects to the target's address and
port only — a redirect or a Host header can never send a byte anywhere else. TLS is done by the
dialer too (with the scanner's context that accepts any certificate), so HTTPS and DICOM-TLS
report their sessions alike (``net/tlsinfo.py``).

:class:`WebSession` is the probe's one way to make a request. Every request is bounded: a body
cap (stream and stop), a deadline for the whole exchange (slow headers, slow bodies), a cap on
same-host redirects, gzip/deflate decoded with an output cap (decompression bombs), and the
whole probe's budget. Errors are mapped here, once; messages never carry peer text (h11's own
messages quote the peer's bytes, so they are never used).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from pacsaudit import __version__
from pacsaudit.errors import (
    Classified,
    PeerClosed,
    ProtocolError,
    ReadTimeout,
    classify,
)
from pacsaudit.model import HttpExchange, TlsInfo
from pacsaudit.net.stream import Connection, DialOptions, open_connection
from pacsaudit.net.tlsinfo import describe_session
from pacsaudit.peertext import printable_text
from pacsaudit.probes.http.options import Limits
from pacsaudit.targets.spec import Target

USER_AGENT = f"pacsaudit/{__version__} (medical imaging exposure audit)"
"""Operators can tell our requests apart, as they can our calling AE title ``PACSAUDIT``."""


def user_agent(contact: str | None) -> str:
    """The User-Agent, with the scanning party's contact (``--contact``) in the ``+URL``
    form crawlers use, so the operator of a scanned server can reach whoever scans it."""
    if not contact:
        return USER_AGENT
    return f"{USER_AGENT[:-1]}; +{contact})"


SAMPLE_BYTES = 96
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_DISCONNECTED = "Server disconnected without sending a response."
"""httpcore's own message (not peer text) for a peer that closed before answering."""


class OffTarget(ProtocolError):
    """A connection to anything but the target was asked for (a bug, or a redirect we missed)."""

    def __init__(self) -> None:
        super().__init__("off-target", "refused to connect anywhere but the target")


class TargetBackend(httpcore.AsyncNetworkBackend):
    """Connections to one ip:port through pacsaudit's dialer, whatever the URL says."""

    def __init__(
        self,
        target: Target,
        dial: DialOptions,
        *,
        tls: ssl.SSLContext | None,
        read_timeout: float,
    ) -> None:
        self.target = target
        self.dial = dial
        self.tls = tls
        self.read_timeout = read_timeout
        self.connections = 0
        self.tls_info: TlsInfo | None = None
        self.first_bytes = b""
        """What the peer sent first on our first connection (for a ``banner`` when it does
        not speak HTTP); bounded to :data:`SAMPLE_BYTES`."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if port != self.target.port:
            raise OffTarget()
        conn = await open_connection(
            self.target.ip,
            self.target.port,
            self.dial,
            tls=self.tls,
            server_hostname=self.target.host,
        )
        self.connections += 1
        if self.tls is not None and self.tls_info is None:
            self.tls_info = describe_session(conn.tls_session())
        return TargetStream(conn, self, first=self.connections == 1)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OffTarget()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TargetStream(httpcore.AsyncNetworkStream):
    """httpcore's view of one :class:`~pacsaudit.net.stream.Connection`."""

    def __init__(self, conn: Connection, backend: TargetBackend, *, first: bool) -> None:
        self._conn = conn
        self._backend = backend
        self._first = first
        self._pending = b""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._pending:
            self._pending = await self._conn.read(
                timeout if timeout is not None else self._backend.read_timeout
            )
            if self._first and len(self._backend.first_bytes) < SAMPLE_BYTES:
                room = SAMPLE_BYTES - len(self._backend.first_bytes)
                self._backend.first_bytes += self._pending[:room]
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._conn.write(buffer)

    async def aclose(self) -> None:
        self._conn.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # The dialer already shook hands (the backend knows whether the port speaks TLS).
        if self._conn.tls_session() is None:
            raise ProtocolError("tls-mismatch", "an https URL on a cleartext connection")
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._conn.tls_session()
        if info == "is_readable":
            # httpcore asks before reusing an idle keep-alive connection: a peer that closed
            # it has made the transport close.
            transport = self._conn.transport
            return transport is None or transport.is_closing()
        return None


class _Transport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on :class:`TargetBackend`."""

    def __init__(self, backend: TargetBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=1,
            max_keepalive_connections=1,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


@dataclass
class Fetched:
    """A response, bounded: status, the few headers we use, the (capped) body."""

    status: int | None
    headers: Mapping[str, str]
    body: bytes
    truncated: bool
    exchange: HttpExchange
    error: Classified | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status in (401, 403)

    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


_KEPT_HEADERS = ("content-type", "www-authenticate", "server", "location", "content-encoding")


@dataclass
class WebSession:
    """All requests of one probe of one target: the client, the budget, the record."""

    target: Target
    scheme: str
    client: httpx.AsyncClient
    backend: TargetBackend
    deadline: float
    limits: Limits
    exchanges: list[HttpExchange] = field(default_factory=list)
    max_requests: int = 48
    requests: int = 0
    consecutive_failures: int = 0

    @property
    def origin(self) -> str:
        host = self.target.host or self.target.ip
        if ":" in host:
            host = f"[{host}]"
        default = 443 if self.scheme == "https" else 80
        port = "" if self.target.port == default else f":{self.target.port}"
        return f"{self.scheme}://{host}{port}"

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def exhausted(self) -> bool:
        """No budget, no requests left, or the peer stopped answering: stop asking."""
        return (
            self.remaining() <= 0.2
            or self.requests >= self.max_requests
            or self.consecutive_failures >= 2
        )

    async def get(
        self,
        path: str,
        *,
        purpose: str,
        accept: str = "text/html,application/json;q=0.9,*/*;q=0.5",
        cap: int | None = None,
        auth: httpx.Auth | None = None,
        follow: bool = True,
    ) -> Fetched:
        """GET ``path`` on the target: never raises (but for cancellation), always recorded."""
        started = time.perf_counter()
        cap = cap or self.limits.page_bytes
        url = path
        redirects = 0
        seen = {path}
        note: str | None = None
        headers = {"Accept": accept}
        status: int | None = None
        kept: dict[str, str] = {}
        body = b""
        truncated = False
        error: Classified | None = None
        self.requests += 1
        try:
            budget = min(self.limits.request_timeout, self.remaining())
            if budget <= 0:
                raise TimeoutError
            async with asyncio.timeout(budget):
                while True:
                    status, kept, body, truncated, note = await self._one(url, headers, cap, auth)
                    location = kept.get("location")
                    if not follow or status not in REDIRECT_CODES or location is None:
                        break
                    nxt = self._same_target(url, location)
                    if nxt is None:
                        note = "redirect-off-target"
                        break
                    if redirects >= self.limits.max_redirects or nxt in seen:
                        note = "redirect-limit"
                        break
                    redirects += 1
                    seen.add(nxt)
                    url = nxt
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = classify(httpx_error(exc))
        if error is None:
            self.consecutive_failures = 0
        else:
            self.consecutive_failures += 1
        exchange = HttpExchange(
            path=path,
            purpose=purpose,
            status_code=status if error is None else None,
            content_type=printable(kept.get("content-type"), 64) if error is None else None,
            bytes_read=len(body),
            truncated=truncated,
            redirects=redirects,
            note=note,
            credentials=auth is not None,
            error=error.error if error is not None else None,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        self.exchanges.append(exchange)
        if error is not None:
            return Fetched(None, {}, b"", False, exchange, error)
        return Fetched(status, kept, body, truncated, exchange)

    async def _one(
        self, url: str, headers: dict[str, str], cap: int, auth: httpx.Auth | None
    ) -> tuple[int, dict[str, str], bytes, bool, str | None]:
        request = self.client.build_request("GET", self.origin + url, headers=headers)
        chosen = auth or httpx.USE_CLIENT_DEFAULT
        response = await self.client.send(request, stream=True, auth=chosen)
        try:
            kept = {
                name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers
            }
            body, truncated, note = await _read_capped(response, cap)
        finally:
            await response.aclose()
        return response.status_code, kept, body, truncated, note

    def _same_target(self, current: str, location: str) -> str | None:
        """The path to follow, or None when the redirect leaves this scheme, host or port."""
        if len(location) > 2048:
            return None
        try:
            base = httpx.URL(self.origin + current)
            nxt = base.join(location)
        except (httpx.InvalidURL, ValueError, TypeError):
            return None
        if (nxt.scheme, nxt.host, nxt.port) != (base.scheme, base.host, base.port):
            return None
        target = nxt.raw_path.decode("ascii", "replace")
        return target if target.startswith("/") else None


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool, str | None]:
    """The body up to ``cap`` decoded bytes; stops reading (and later closes) beyond it."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    decoder: Any = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        return b"", False, "unsupported-encoding"
    out = bytearray()
    async for chunk in response.aiter_raw():
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, cap + 1 - len(out))
            except zlib.error:
                return bytes(out), False, "bad-encoding"
        out += chunk
        if len(out) > cap:
            return bytes(out[:cap]), True, None
    return bytes(out), False, None


def httpx_error(exc: BaseException) -> BaseException:
    """httpx's adapter for :func:`pacsaudit.errors.classify`: its exceptions in our words.

    Any ``TimeoutError`` here is the whole exchange running out of time (a slowloris peer, an
    endless body; the exchange's own deadline covers its connect too): a read timeout,
    whichever read it was.
    """
    if isinstance(exc, TimeoutError):
        return ReadTimeout(
            message="no complete answer from the peer in time", detail="request-timeout"
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpcore.RemoteProtocolError):
        if str(exc) == _DISCONNECTED:
            return PeerClosed("closed without answering")
        return ProtocolError("not-http", "the peer's answer is not valid HTTP")
    if isinstance(exc, httpx.LocalProtocolError | httpcore.LocalProtocolError):
        return ProtocolError("http-local", "the request could not be sent")
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError("bad-encoding", "the body's encoding is broken")
    if isinstance(exc, httpx.HTTPError | httpcore.ConnectionNotAvailable):
        return ProtocolError("http-error", f"HTTP client error {type(exc).__name__}")
    return exc


def printable(value: str | None, limit: int) -> str | None:
    """A header value or peer-chosen name made safe to record: printable, bounded."""
    if value is None:
        return None
    return printable_text(value, limit)


def make_session(
    target: Target,
    *,
    tls: ssl.SSLContext | None,
    context: ssl.SSLContext,
    dial: DialOptions,
    read_timeout: float,
    deadline: float,
    limits: Limits,
    max_requests: int,
    contact: str | None = None,
) -> WebSession:
    backend = TargetBackend(target, dial, tls=tls, read_timeout=read_timeout)
    scheme = "https" if tls is not None else "http"
    client = httpx.AsyncClient(
        transport=_Transport(backend, context),
        headers={"User-Agent": user_agent(contact), "Accept-Encoding": "identity"},
        follow_redirects=False,
        timeout=httpx.Timeout(read_timeout, connect=dial.connect_timeout),
        trust_env=False,
    )
    return WebSession(
        target=target,
        scheme=scheme,
        client=client,
        backend=backend,
        deadline=deadline,
        limits=limits,
        max_requests=max_requests,
    )
