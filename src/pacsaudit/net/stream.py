"""Connections for probes: a TCP (optionally TLS) byte stream with deadline-bound reads.

Why not ``asyncio.open_connection``: streams cost a task-safe reader, a writer and their
locks per connection, and ``wait_for`` costs a task per read. A scanner holds thousands of
short connections at once; one small Protocol per connection whose ``read`` waits on a single
future is several times cheaper (``bench/bench_dicom_sweep.py`` measures the whole path).

The socket is created and connected here with ``connect_ex``, so that refused, unreachable and
timed-out connections are told apart by errno, and so that every connection goes through
``socket.socket.connect_ex`` — the one call the test suite's network guard watches.

Two hooks let the engine (:mod:`pacsaudit.engine.sweep`) stay in charge of connections that
probes open themselves, without any probe knowing: a :class:`DialTicket` — the engine has
already connected to the target to tell closed and filtered ports apart without starting a
probe, and the probe's first dial to that same ``ip:port`` takes the socket instead of opening
a second connection — and the scan's *connection rate limiter*, which every further dial waits
on. Both are context variables the engine sets for the task running one target's probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import math
import socket
import ssl
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any, cast

import msgspec

from pacsaudit.errors import ConnectTimeout, PeerClosed, ReadTimeout, tls_failure
from pacsaudit.net.limits import TokenBucket

READ_CHUNK_LIMIT = 1 << 20
"""Pause reading when this much is buffered and unread: a fast peer cannot fill our memory."""

Expiry = Callable[[Any], None]
_Group = dict[Any, tuple[float, Expiry]]


class Deadlines:
    """The timeouts of every read and dial on one event loop, on a single loop timer.

    A ``call_later`` per wait costs a timer handle and a start and stop in the loop's timer
    heap (1.5 µs with uvloop, and a host waits three or four times). Here a wait is an entry
    in a dict. Waits with the same timeout expire in the order they began, so each timeout
    value keeps its waits in an insertion-ordered dict whose first entry expires first; one
    timer is armed for the earliest first entry. In a busy scan, whose waits end long before
    their deadlines, it fires about once per timeout period. Expiry is exact: no wait ends
    before its deadline, and none later than the loop's own timer would end it.
    """

    __slots__ = ("_armed", "_groups", "_loop", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # A weak reference: the registry of a loop must not keep the loop alive.
        self._loop = weakref.ref(loop)
        self._groups: dict[float, _Group] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed = math.inf

    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop these deadlines run on, None once it is gone."""
        return self._loop()

    def add(self, timeout: float, on_expiry: Expiry, key: object) -> _Group:
        """Call ``on_expiry(key)`` in ``timeout`` seconds unless the wait is withdrawn first:
        ``group.pop(key, None)`` on the returned group (the cheapest withdrawal there is)."""
        loop = self._loop()
        assert loop is not None  # a wait starts on a running loop
        when = loop.time() + timeout
        group = self._groups.get(timeout)
        if group is None:
            group = self._groups[timeout] = {}
        group[key] = (when, on_expiry)
        if when < self._armed:
            self._arm(loop, when)
        return group

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = when
        self._timer = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed = math.inf
        loop = self._loop()
        if loop is None:
            return
        now = loop.time()
        due: list[tuple[Expiry, object]] = []
        following = math.inf
        for timeout in list(self._groups):
            group = self._groups[timeout]
            while group:
                key = next(iter(group))
                when, on_expiry = group[key]
                if when > now:
                    following = min(following, when)
                    break
                del group[key]
                due.append((on_expiry, key))
            if not group:
                del self._groups[timeout]
        if following < math.inf:
            self._arm(loop, following)
        for on_expiry, key in due:
            on_expiry(key)


_DEADLINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
    weakref.WeakKeyDictionary()
)
_DEADLINES_LOCK = threading.Lock()


_last: Deadlines | None = None
"""The registry found last: a scan asks for its loop's once per connection, and a weak
dictionary's lookup makes a weak reference each time (threads with loops of their own only
miss here, and fall back to the dictionary)."""


def deadlines(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The loop's :class:`Deadlines` (one per loop, forgotten with the loop)."""
    global _last
    last = _last
    if last is not None and last.loop() is loop:
        return last
    found = _DEADLINES.get(loop)
    if found is None:
        with _DEADLINES_LOCK:
            found = _DEADLINES.get(loop)
            if found is None:
                found = _DEADLINES[loop] = Deadlines(loop)
    _last = found
    return found


class Connection(asyncio.Protocol):
    """One connection's receive buffer and the single reader waiting on it."""

    __slots__ = (
        "_chunks",
        "_deadlines",
        "_eof",
        "_exc",
        "_loop",
        "_paused",
        "_size",
        "_waiter",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._deadlines = deadlines(loop)
        self.transport: asyncio.Transport | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > READ_CHUNK_LIMIT and self.transport is not None and not self._paused:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._exc = exc
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- for probes ------------------------------------------------------------------------

    async def read(self, timeout: float) -> bytes:
        """Whatever has arrived (at least one byte), or ``b""`` at EOF.

        Raises :class:`ReadTimeout` when nothing arrives in time, and the transport's error
        (e.g. ``ConnectionResetError``) when the connection broke. A read that is cancelled
        (the engine's per-target budget ran out) aborts the connection: its owner is being
        unwound and would never close it, and the loop would keep the socket open for good.
        """
        if not self._chunks and not self._eof:
            waiter = self._loop.create_future()
            self._waiter = waiter
            group = self._deadlines.add(timeout, _expire, waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self.abort()
                raise
            finally:
                group.pop(waiter, None)
                self._waiter = None
        if self._chunks:
            data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            self._chunks.clear()
            self._size = 0
            if self._paused and self.transport is not None:
                self.transport.resume_reading()
                self._paused = False
            return data
        if self._exc is not None:
            raise self._exc
        return b""

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise PeerClosed("connection already closed")
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once, with a RST and without waiting for buffered data to drain."""
        if self.transport is not None:
            self.transport.abort()

    def tls_session(self) -> ssl.SSLObject | None:
        if self.transport is None:
            return None
        obj = self.transport.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout("read timed out"))


class DialOptions(msgspec.Struct, frozen=True):
    connect_timeout: float = 3.0
    tls_handshake_timeout: float = 5.0


class DialTicket:
    """What the engine already did for the first dial of one target's probe.

    ``sock``: a socket the engine connected to ``ip:port`` itself (to tell closed and filtered
    ports apart without starting a probe); the probe's first dial there takes it instead of
    opening a second connection. ``prepaid``: the engine already spent a rate-limiter token
    for that first dial. Either is used once, by a dial to exactly this ``ip:port``.
    """

    __slots__ = ("ip", "port", "prepaid", "sock")

    def __init__(
        self, ip: str, port: int, sock: socket.socket | None, *, prepaid: bool = False
    ) -> None:
        self.ip = ip
        self.port = port
        self.sock = sock
        self.prepaid = prepaid

    def holds(self, ip: str, port: int) -> bool:
        """Whether this ticket is for a dial to ``ip:port``."""
        return port == self.port and ip == self.ip

    def take(self, ip: str, port: int) -> tuple[socket.socket | None, bool]:
        """``(socket or None, whether the dial is already paid for)`` for a dial."""
        if not self.holds(ip, port):
            return None, False
        sock, self.sock = self.sock, None
        if sock is not None:
            self.prepaid = False
            return sock, True
        paid, self.prepaid = self.prepaid, False
        return None, paid

    def discard(self) -> None:
        """Close the socket if no dial took it (a probe that connects by other means)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


DIAL_TICKET: contextvars.ContextVar[DialTicket | None] = contextvars.ContextVar(
    "pacsaudit_dial_ticket", default=None
)
CONNECTION_LIMITER: contextvars.ContextVar[TokenBucket | None] = contextvars.ContextVar(
    "pacsaudit_connection_limiter", default=None
)


async def pay_for_connection(ip: str, port: int) -> None:
    """Spend ``--rate``'s token for one new TCP connection that a library opens by itself
    (impacket for SMB), as every dial through this module does; the first connection to the
    target is the one the engine already paid for. Returns when the token is spent."""
    ticket = DIAL_TICKET.get()
    if ticket is not None:
        sock, paid = ticket.take(ip, port)
        if sock is not None:  # a connected socket the library cannot use: it dials again
            sock.close()
            paid = False
        if paid:
            return
    limiter = CONNECTION_LIMITER.get()
    if limiter is not None:
        await limiter.acquire()


async def connect_socket(ip: str, port: int, timeout: float) -> socket.socket:
    ticket = DIAL_TICKET.get()
    paid = False
    if ticket is not None:
        taken, paid = ticket.take(ip, port)
        if taken is not None:
            return taken
    limiter = CONNECTION_LIMITER.get()
    if limiter is not None and not paid:
        await limiter.acquire()
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET  # numeric addresses only
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((ip, port))
        if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            fut: asyncio.Future[None] = loop.create_future()
            fd = sock.fileno()
            loop.add_writer(fd, _set_done, fut)
            group = deadlines(loop).add(timeout, _connect_expire, fut)
            try:
                await fut
            finally:
                group.pop(fut, None)
                loop.remove_writer(fd)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, errno.errorcode.get(err, str(err)))
        return sock
    except BaseException:
        sock.close()
        raise


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _connect_expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(ConnectTimeout("connect timed out"))


def _refused(err: int) -> OSError:
    if err == errno.ECONNREFUSED:
        return ConnectionRefusedError(err, "connection refused")
    return OSError(err, errno.errorcode.get(err, str(err)))


async def open_connection(
    ip: str,
    port: int,
    options: DialOptions,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Connection:
    """Connect to ``ip:port`` (and shake hands with TLS when ``tls`` is given)."""
    loop = asyncio.get_running_loop()
    ticket = DIAL_TICKET.get()
    if ticket is not None and ticket.sock is not None and ticket.holds(ip, port):
        sock, _paid = ticket.take(ip, port)  # the engine's socket: no connect coroutine to run
    else:
        sock = None
    if sock is None:
        try:
            sock = await connect_socket(ip, port, options.connect_timeout)
        except OSError as exc:
            if type(exc) is OSError and exc.errno is not None:
                raise _refused(exc.errno) from None
            raise
    conn = Connection(loop)
    try:
        if tls is None:
            await loop.create_connection(lambda: conn, sock=sock)
        else:
            try:
                await loop.create_connection(
                    lambda: conn,
                    sock=sock,
                    ssl=tls,
                    server_hostname=server_hostname or "",
                    ssl_handshake_timeout=options.tls_handshake_timeout,
                )
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                raise tls_failure(exc) from None
    except BaseException:
        sock.close()
        raise
    return conn


def scanner_tls_context() -> ssl.SSLContext:
    """A client context that completes handshakes with any certificate.

    An audit must see the certificate a server presents, valid or not; judging it is the
    probe's job (``pacsaudit.net.tlsinfo``), refusing it would hide exactly the servers
    with broken TLS that the audit is for.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # deprecated on purpose: old servers are what we look for
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    with contextlib.suppress(ssl.SSLError):  # depends on the OpenSSL build
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx
