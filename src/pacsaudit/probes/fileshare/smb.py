"""The SMB probe: null or guest session, share list, then the bounded walk of :mod:`.walk`.

impacket does the protocol: SMB1 to SMB 3.1.1 negotiation, NTLM, the share list over the
``srvsvc`` pipe (smbprotocol cannot list shares), directory queries and reads at an offset. It
dials with Python's ``socket.connect``, which the test suite's loopback guard sees. Its calls
block, so each one runs in a small dedicated thread pool, one thread per target at a time,
and every call is bounded twice: the socket timeout inside the thread and the walk's own
deadline outside it. A call that outlives its deadline is abandoned and its session closed.

What an anonymous session is let do is tried in the order a stranger would: a null session
(no user, no password), then the guest account. The shares are walked with the same bounds as
FTP; a share's top folder is opened for ``FILE_ADD_FILE`` (nothing is created) to learn whether
guests may write there. Listings are read with ``FILE_ID_BOTH_DIRECTORY_INFORMATION`` in
bounded batches: the file ids tell a folder reached twice through a link, and a folder of a
million entries is never read in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from impacket import smb, smb3, smb3structs
from impacket.nt_errors import STATUS_NO_MORE_FILES
from impacket.smbconnection import SessionError as ConnectionSessionError
from impacket.smbconnection import SMBConnection

from pacsaudit.contract import make_finding
from pacsaudit.errors import ProtocolError, ReadTimeout, classify
from pacsaudit.model import Finding, ShareAccess, Status
from pacsaudit.net.stream import pay_for_connection
from pacsaudit.peertext import printable_text
from pacsaudit.probes.fileshare import SMB
from pacsaudit.probes.fileshare.common import ShareProbe
from pacsaudit.probes.fileshare.indicators import IndicatorList
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.fileshare.walk import (
    READ_CHUNK,
    Bound,
    Entry,
    EntryError,
    EntryKind,
    Listing,
    WalkTally,
    Want,
    walk_share,
)
from pacsaudit.targets.spec import Target

MAX_SESSIONS = 4
"""SMB targets walked at once per scan: each holds one pool thread while it works."""
_DIALECTS = {
    smb.SMB_DIALECT: "SMB 1",
    smb3structs.SMB2_DIALECT_002: "SMB 2.0.2",
    smb3structs.SMB2_DIALECT_21: "SMB 2.1",
    smb3structs.SMB2_DIALECT_30: "SMB 3.0",
    smb3structs.SMB2_DIALECT_302: "SMB 3.0.2",
    smb3structs.SMB2_DIALECT_311: "SMB 3.1.1",
}
_STYPE_DISKTREE = 0
_STYPE_MASK = 0x0FFFFFFF
_STYPE_SPECIAL = 0x80000000
_DENIED = {
    0xC0000022,  # STATUS_ACCESS_DENIED
    0xC000006D,  # STATUS_LOGON_FAILURE
    0xC0000072,  # STATUS_ACCOUNT_DISABLED
    0xC0000064,  # STATUS_NO_SUCH_USER
    0xC00000CC,  # STATUS_BAD_NETWORK_NAME
    0xC0000203,  # STATUS_USER_SESSION_DELETED
}
_SHARE_ALL = (
    smb3structs.FILE_SHARE_READ | smb3structs.FILE_SHARE_WRITE | smb3structs.FILE_SHARE_DELETE
)
_BATCH = 16 * 1024
"""Bytes of directory entries asked for per query: a few hundred names, never a whole folder."""

T = TypeVar("T")


class _Refused(Exception):
    """Neither a null nor a guest session was granted."""


@dataclass
class _Session:
    conn: Any
    login: str
    dialect: str
    server_os: str | None


SessionError = (ConnectionSessionError, smb3.SessionError, smb.SessionError)
"""impacket raises one of these for an NT status, depending on the layer that saw it."""


def _status(exc: BaseException) -> int:
    getter = getattr(exc, "getErrorCode", None) or getattr(exc, "get_error_code", None)
    code = getter() if getter is not None else 0
    return int(code) if isinstance(code, int) else 0


_LOGINS = (("null-session", ""), ("guest", "guest"))
"""Tried in this order, each on a connection of its own (impacket's SMBConnection)."""


def _login(ip: str, port: int, timeout: float, login: str, user: str) -> _Session | Exception:
    """Negotiate on a new connection and log in as ``user``; a denial is returned (the next
    login is worth a try), any other failure raised."""
    conn = SMBConnection(ip, ip, sess_port=port, timeout=timeout)
    try:
        conn.login(user, "")
    except SessionError as exc:
        with contextlib.suppress(Exception):
            conn.close()
        if _status(exc) not in _DENIED:
            raise
        denied: Exception = exc
        return denied
    except BaseException:
        with contextlib.suppress(Exception):
            conn.close()
        raise
    dialect = _DIALECTS.get(conn.getDialect(), "SMB")
    server_os = None
    with contextlib.suppress(Exception):
        server_os = str(conn.getServerOS() or "").strip() or None
    return _Session(conn, login, dialect, server_os)


def _disk_shares(conn: Any) -> list[str]:
    names: list[str] = []
    for share in conn.listShares():
        kind = int(share["shi1_type"])
        if kind & _STYPE_SPECIAL or kind & _STYPE_MASK != _STYPE_DISKTREE:
            continue  # IPC$, printers, administrative shares
        names.append(str(share["shi1_netname"]).rstrip("\x00"))
    return names


class _SmbBackend:
    can_read = True

    def __init__(self, probe: SmbProbe, session: _Session, share: str) -> None:
        self.probe = probe
        self.conn = session.conn
        self.smb2 = session.dialect != "SMB 1"
        self.share = share
        self.tree: int | None = None

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await self.probe.in_thread(fn)
        except SessionError as exc:
            code = _status(exc)
            if code in (0xC0000203, 0xC000035C):  # session deleted / network session expired
                raise ProtocolError("session-lost", "the server ended the session") from None
            raise EntryError(f"status-{code:08x}") from None

    async def connect(self) -> bool | None:
        """Tree-connect; then whether guests may add files at its top (None: unknown)."""
        self.tree = await self._call(lambda: self.conn.connectTree(self.share))
        return await self._writable()

    async def _writable(self) -> bool | None:
        tree = self.tree

        def probe_write() -> bool:
            try:
                fid = self.conn.openFile(
                    tree,
                    "",
                    desiredAccess=smb3structs.FILE_ADD_FILE,
                    shareMode=_SHARE_ALL,
                    creationOption=smb3structs.FILE_DIRECTORY_FILE,
                    creationDisposition=smb3structs.FILE_OPEN,
                )
            except SessionError as exc:
                if _status(exc) == 0xC0000022:
                    return False
                raise
            self.conn.closeFile(tree, fid)
            return True

        try:
            return await self._call(probe_write)
        except EntryError:
            return None

    def _path(self, path: tuple[str, ...]) -> str:
        return "\\".join(path)

    async def list_dir(self, path: tuple[str, ...], limit: int) -> Listing:
        remote = self._path(path)
        if not self.smb2:
            return await self._call(lambda: self._list_smb1(remote, limit))
        return await self._call(lambda: self._list_smb2(remote, limit))

    def _list_smb2(self, remote: str, limit: int) -> Listing:
        server = self.conn.getSMBServer()
        fid = server.create(
            self.tree,
            remote,
            smb3structs.FILE_LIST_DIRECTORY | smb3structs.FILE_READ_ATTRIBUTES,
            _SHARE_ALL,
            smb3structs.FILE_DIRECTORY_FILE | smb3structs.FILE_SYNCHRONOUS_IO_NONALERT,
            smb3structs.FILE_OPEN,
            0,
        )
        entries: list[Entry] = []
        truncated = False
        try:
            while not truncated:
                try:
                    data = server.queryDirectory(
                        self.tree,
                        fid,
                        "*",
                        informationClass=smb3structs.FILEID_BOTH_DIRECTORY_INFORMATION,
                        maxBufferSize=_BATCH,
                    )
                except SessionError as exc:
                    if _status(exc) == STATUS_NO_MORE_FILES:
                        break
                    raise
                offset = 1
                while offset and data:
                    info = smb.SMBFindFileIdBothDirectoryInfo(smb.SMB.FLAGS2_UNICODE)
                    info.fromString(data)
                    if len(entries) >= limit:
                        truncated = True
                        break
                    entries.append(_entry(info))
                    offset = info["NextEntryOffset"]
                    data = data[offset:]
        finally:
            with contextlib.suppress(Exception):
                server.close(self.tree, fid)
        return Listing(entries, truncated)

    def _list_smb1(self, remote: str, limit: int) -> Listing:
        """SMB1 servers: impacket lists a folder in one call; the bound applies afterwards."""
        pattern = f"{remote}\\*" if remote else "*"
        files = self.conn.listPath(self.share, pattern)
        entries = [
            Entry(
                name=str(f.get_longname()),
                kind=EntryKind.DIR if f.is_directory() else EntryKind.FILE,
                size=int(f.get_filesize()),
            )
            for f in files[: limit + 1]
        ]
        return Listing(entries[:limit], truncated=len(entries) > limit)

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        remote = self._path(path)
        tree = self.tree

        def read() -> tuple[bytes, bool]:
            fid = self.conn.openFile(
                tree,
                remote,
                desiredAccess=smb3structs.FILE_READ_DATA,
                shareMode=_SHARE_ALL,
            )
            buffer = b""
            ended = False
            try:
                while True:
                    target = want(buffer)
                    if len(buffer) >= target:
                        break
                    try:
                        chunk = self.conn.readFile(
                            tree, fid, len(buffer), min(target - len(buffer), READ_CHUNK)
                        )
                    except SessionError as exc:
                        if _status(exc) == 0xC0000011:  # STATUS_END_OF_FILE
                            chunk = b""
                        else:
                            raise
                    if not chunk:
                        ended = True
                        break
                    buffer += chunk
            finally:
                with contextlib.suppress(Exception):
                    self.conn.closeFile(tree, fid)
            return buffer, ended

        return await self._call(read)


def _entry(info: Any) -> Entry:
    name = info["FileName"].decode("utf-16le", "replace")
    attributes = int(info["ExtFileAttributes"])
    if attributes & smb3structs.FILE_ATTRIBUTE_REPARSE_POINT:
        kind = EntryKind.LINK
    elif attributes & smb3structs.FILE_ATTRIBUTE_DIRECTORY:
        kind = EntryKind.DIR
    else:
        kind = EntryKind.FILE
    file_id = int(info["FileID"])
    return Entry(
        name=name,
        kind=kind,
        size=int(info["EndOfFile"]),
        identity=f"{file_id:x}" if file_id else None,
    )


class SmbProbe(ShareProbe, spec=SMB):
    def __init__(
        self,
        options: WalkOptions | None = None,
        indicators: IndicatorList | None = None,
        *,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        super().__init__(options, indicators)
        self.max_sessions = max_sessions
        # Threads left behind by abandoned calls end within the socket timeout; a few spare
        # workers keep them from blocking the next target.
        self._pool = ThreadPoolExecutor(max_sessions + 2, thread_name_prefix="pacsaudit-smb")
        self._slots: asyncio.Semaphore | None = None

    async def in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def scan(self, target: Target) -> Finding:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_sessions)
        async with self._slots:
            return await self._scan(target)

    async def _scan(self, target: Target) -> Finding:
        started = time.perf_counter()
        options = self.options
        tally = self.new_tally()
        session: _Session | None = None
        socket_timeout = max(1.0, min(options.read_timeout, options.budget))
        try:
            try:
                async with asyncio.timeout(tally.op_timeout() + options.connect_timeout):
                    session = await self._open_session(target, socket_timeout)
            except _Refused:
                result = tally.result(server=None, login=None, anonymous=False)
                return make_finding(self.name, target, started, Status.SMB, result)
            server = session.dialect + (f", {session.server_os}" if session.server_os else "")
            server = printable_text(server, 96)
            try:
                async with asyncio.timeout(tally.op_timeout()):
                    shares = await self.in_thread(lambda: _disk_shares(session.conn))
            except SessionError as exc:
                # Some servers deny the share list but not the shares: nothing to walk then.
                refused = ProtocolError(f"status-{_status(exc):08x}", "the share list was refused")
                tally.error = classify(refused).error
                shares = []
            await self._walk(session, shares, tally)
            result = tally.result(server=server, login=session.login, anonymous=True)
            return make_finding(self.name, target, started, Status.SMB, result)
        except Exception as exc:
            classified = classify(impacket_error(exc, connected=session is not None))
            status, error = classified.status, classified.error
            if session is None:
                return make_finding(self.name, target, started, status, None, error)
            tally.error = error
            result = tally.result(server=None, login=session.login, anonymous=True)
            return make_finding(self.name, target, started, Status.SMB, result, error)
        finally:
            if session is not None:
                conn = session.conn
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.in_thread(conn.close), 1.0)

    async def _open_session(self, target: Target, timeout: float) -> _Session:
        """A null session, else the guest account. Each login is a new TCP connection that
        impacket opens itself, so each spends a ``--rate`` token first (the engine paid for
        the first one)."""
        last: Exception | None = None
        for login, user in _LOGINS:
            await pay_for_connection(target.ip, target.port)
            attempt = await self.in_thread(
                functools.partial(_login, target.ip, target.port, timeout, login, user)
            )
            if isinstance(attempt, _Session):
                return attempt
            last = attempt
        raise _Refused() from last

    async def _walk(self, session: _Session, shares: list[str], tally: WalkTally) -> None:
        for n, name in enumerate(shares):
            share = tally.share(name)
            if n >= self.options.max_shares or tally.out_of_time():
                share.access = ShareAccess.SKIPPED
                tally.hit(Bound.MAX_SHARES if n >= self.options.max_shares else Bound.TIME_BUDGET)
                continue
            backend = _SmbBackend(self, session, name)
            try:
                async with asyncio.timeout(tally.op_timeout()):
                    share.writable = await backend.connect()
            except EntryError:
                share.access = ShareAccess.DENIED
                continue
            await walk_share(backend, share, tally)
            if share.writable:
                tally.writable_dirs += 1
            if tally.error is not None:
                share.access = ShareAccess.ERROR
                return  # the session is gone: the other shares cannot be reached either


def impacket_error(exc: BaseException, *, connected: bool) -> BaseException:
    """impacket's adapter for :func:`pacsaudit.errors.classify`: its exceptions in our words.

    impacket times its reads with plain ``TimeoutError`` (or its own ``NetBIOSTimeout``): a
    silent peer, not our budget. It wraps socket errors in its own NetBIOS exceptions, which
    name no errno (``socket.error("Connection error (ip:port)", original)``): the original is
    classified, never the message. Anything else before a session exists reads as "not SMB".
    """
    if type(exc) is TimeoutError or type(exc).__name__ == "NetBIOSTimeout":
        return ReadTimeout()
    wrapped = exc.args[1] if isinstance(exc, OSError) and len(exc.args) == 2 else None
    for candidate in (wrapped, exc.__cause__, exc):
        if isinstance(candidate, OSError) and not isinstance(candidate.errno, str):
            return candidate
    if connected:
        return exc
    return ProtocolError("not-smb", "the peer did not answer as an SMB server")
