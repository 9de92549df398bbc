"""The rsync probe: the daemon's module list, then each module's listing, bounded.

The greeting and the module list are a few text lines (``@RSYNCD: <version>``, one module per
line with a tab before its comment, ``@RSYNCD: EXIT``), read here over pacsaudit's dialer. A
module's contents are listed by Debian's ``rsync`` client (``--list-only -r``), which cannot
dial by itself here: it is pointed at a one-use HTTP CONNECT relay on loopback
(``RSYNC_PROXY``) that accepts only the target's own address and dials it with pacsaudit's
dialer. The listing is bounded where it is made — an exclude rule stops the daemon from
descending past ``--max-depth`` — and where it is read: past ``--max-entries`` lines, or the
time budget, the client is killed.

rsync has no way to read part of a file, and fetching whole files is what pacsaudit never
does, so here DICOM files are counted by name and size only (``dicom_detection:
name-and-size``): ``*.dcm``, ``*.dicom``, ``*.dic``, ``DICOMDIR`` and UID-named files larger
than the 132 bytes a DICOM preamble and magic take. No header is sampled and no DICOMDIR read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import time
from dataclasses import dataclass, field

from pacsaudit.contract import make_finding
from pacsaudit.errors import ProtocolError, classify, printable_sample
from pacsaudit.model import ErrorInfo, ErrorKind, Finding, ShareAccess, Status
from pacsaudit.net.stream import Connection, DialOptions, connect_socket, open_connection
from pacsaudit.probes.fileshare import RSYNC
from pacsaudit.probes.fileshare.common import ShareProbe
from pacsaudit.probes.fileshare.indicators import IndicatorList
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.fileshare.walk import (
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

CLIENT_VERSION = b"@RSYNCD: 30.0\n"
MAX_LINE = 4096
MAX_MODULE_LINES = 1024
_KILL_GRACE = 1.0


@dataclass
class _Greeting:
    version: str
    modules: list[str] = field(default_factory=list)
    truncated: bool = False
    error: BaseException | None = None
    """Why the module list broke off after the daemon had greeted us."""


class _Lines:
    """Lines from one of our connections, each bounded, each read under the walk's clock."""

    def __init__(self, conn: Connection, tally: WalkTally) -> None:
        self.conn = conn
        self.tally = tally
        self.buffer = b""
        self.eof = False

    async def line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            if self.eof:
                return None
            if len(self.buffer) > MAX_LINE:
                raise ProtocolError("line-too-long", "a line longer than the limit")
            chunk = await self.conn.read(self.tally.op_timeout())
            if not chunk:
                self.eof = True
                if not self.buffer:
                    return None
                self.buffer += b"\n"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")


async def _greet(target: Target, options: WalkOptions, tally: WalkTally) -> _Greeting:
    dial = DialOptions(connect_timeout=options.connect_timeout)
    conn = await open_connection(target.ip, target.port, dial)
    try:
        lines = _Lines(conn, tally)
        first = await lines.line()
        if first is None or not first.startswith(b"@RSYNCD: "):
            raise ProtocolError("not-rsync", "the peer is not an rsync daemon")
        greeting = _Greeting(printable_sample(first[9:].split(b" ", 1)[0], 16))
        conn.write(CLIENT_VERSION + b"\n")  # our version, then an empty module name: list
        try:
            for _ in range(MAX_MODULE_LINES):
                line = await lines.line()
                if line is None or line.startswith((b"@RSYNCD: EXIT", b"@ERROR")):
                    return greeting
                # Module lines are "name<padding>\tcomment"; the message of the day has no tab.
                name, tab, _comment = line.partition(b"\t")
                module = name.decode("utf-8", "replace").rstrip()
                if tab and module and _usable_module(module):
                    greeting.modules.append(module)
        except (OSError, TimeoutError, ProtocolError) as exc:
            greeting.error = exc  # an rsync daemon all the same: keep what it listed
            return greeting
        greeting.truncated = True
        return greeting
    finally:
        conn.close()


def _usable_module(name: str) -> bool:
    return name.isprintable() and "/" not in name and not name.startswith(("-", "#", "@"))


class _ConnectRelay:
    """A one-use HTTP CONNECT proxy on loopback for the rsync client: dials only ``target``."""

    def __init__(self, target: Target, options: WalkOptions) -> None:
        self.target = target
        self.options = options
        self.server: asyncio.Server | None = None
        self.refused = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.transports: list[asyncio.WriteTransport] = []

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *exc: object) -> None:
        """Stop listening and cut every relayed connection; their tasks then end by themselves
        (cancelling them would make Python 3.11's stream callback log a traceback)."""
        if self.server is not None:
            self.server.close()
        for transport in self.transports:
            transport.abort()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=_KILL_GRACE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        self.transports.append(writer.transport)
        upstream: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.options.read_timeout):
                request = await reader.readuntil(b"\r\n\r\n")
            words = request.split(b"\r\n", 1)[0].split()
            if len(words) < 2 or words[0] != b"CONNECT" or not self._allowed(words[1]):
                self.refused += 1
                writer.write(b"HTTP/1.0 403 Forbidden\r\n\r\n")
                return
            sock = await connect_socket(
                self.target.ip, self.target.port, self.options.connect_timeout
            )
            up_reader, upstream = await asyncio.open_connection(sock=sock)
            self.transports.append(upstream.transport)
            writer.write(b"HTTP/1.0 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client sees the connection close and reports it
        finally:
            if upstream is not None:
                upstream.close()
            writer.close()
            if task is not None:
                self.tasks.discard(task)

    def _allowed(self, authority: bytes) -> bool:
        host, _, port = authority.decode("ascii", "replace").rpartition(":")
        host = host.strip("[]")
        try:
            same_ip = ipaddress.ip_address(host) == ipaddress.ip_address(self.target.ip)
        except ValueError:
            return False
        return same_ip and port == str(self.target.port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            # The other side may have closed this one meanwhile: uvloop then raises
            # RuntimeError rather than ignore the half-close.
            if not writer.is_closing() and writer.can_write_eof():
                writer.write_eof()


def _url(target: Target, module: str) -> str:
    host = f"[{target.ip}]" if ":" in target.ip else target.ip
    return f"rsync://{host}:{target.port}/{module}/"


def _parse_size(text: str) -> int | None:
    cleaned = text.replace(",", "").replace(".", "")
    return int(cleaned) if cleaned.isdigit() else None


def _mode(perms: str) -> int | None:
    if len(perms) != 10:
        return None
    mode = 0
    for i, ch in enumerate(perms[1:]):
        if ch not in "-":
            mode |= 1 << (8 - i)
    return mode


class _ModuleTree:
    """One module's recursive listing, served folder by folder to the shared walk."""

    can_read = False

    def __init__(self) -> None:
        self.folders: dict[tuple[str, ...], list[Entry]] = {(): []}
        self.truncated = False

    def add(self, line: str) -> None:
        parts = line.split(None, 4)
        if len(parts) != 5:
            return
        perms, size, _date, _time, name = parts
        path = tuple(p for p in name.split("/") if p)
        if not path or path == (".",):
            return
        kind = {
            "d": EntryKind.DIR,
            "-": EntryKind.FILE,
            "l": EntryKind.LINK,
        }.get(perms[0], EntryKind.OTHER)
        entry = Entry(name=path[-1], kind=kind, size=_parse_size(size), mode=_mode(perms))
        self.folders.setdefault(path[:-1], []).append(entry)
        if kind is EntryKind.DIR:
            self.folders.setdefault(path, [])

    async def list_dir(self, path: tuple[str, ...], limit: int) -> Listing:
        entries = self.folders.get(path)
        if entries is None:
            raise EntryError("not-listed")
        return Listing(entries[:limit], truncated=len(entries) > limit)

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        raise EntryError("rsync-cannot-read-part-of-a-file")


class RsyncProbe(ShareProbe, spec=RSYNC):
    def __init__(
        self,
        options: WalkOptions | None = None,
        indicators: IndicatorList | None = None,
        *,
        rsync: str | None = None,
    ) -> None:
        super().__init__(options, indicators)
        self.rsync = rsync or shutil.which("rsync")

    async def scan(self, target: Target) -> Finding:
        started = time.perf_counter()
        tally = self.new_tally()
        tally.can_read = False
        try:
            greeting = await _greet(target, self.options, tally)
        except Exception as exc:
            classified = classify(exc)
            return make_finding(
                self.name, target, started, classified.status, None, classified.error
            )
        server = f"rsync protocol {greeting.version}"
        if greeting.truncated:
            tally.hit(Bound.MAX_SHARES)
        if greeting.error is not None:
            tally.error = classify(greeting.error).error
        if self.rsync is None:
            tally.error = ErrorInfo(
                ErrorKind.OS_ERROR, "the rsync client is not installed", "rsync-missing"
            )
        listed = 0
        for n, module in enumerate(greeting.modules):
            share = tally.share(module)
            if self.rsync is None:
                share.access = ShareAccess.SKIPPED
                continue
            if n >= self.options.max_shares or tally.out_of_time():
                share.access = ShareAccess.SKIPPED
                tally.hit(Bound.MAX_SHARES if n >= self.options.max_shares else Bound.TIME_BUDGET)
                continue
            tree = _ModuleTree()
            access = await self._list_module(target, module, tree, tally)
            share.access = access
            if access is not ShareAccess.LISTED:
                continue
            listed += 1
            if tree.truncated:
                tally.hit(Bound.MAX_ENTRIES)
            await walk_share(tree, share, tally)
        result = tally.result(server=server, login="none" if listed else None, anonymous=listed > 0)
        return make_finding(self.name, target, started, Status.RSYNC, result)

    def _argv(self, target: Target, module: str) -> list[str]:
        assert self.rsync is not None
        too_deep = "/" + "/".join(["*"] * (self.options.max_depth + 2))
        return [
            self.rsync,
            "--list-only",
            "--recursive",
            "--no-motd",
            f"--contimeout={max(1, int(self.options.connect_timeout))}",
            f"--timeout={max(1, int(self.options.read_timeout))}",
            f"--exclude={too_deep}",
            _url(target, module),
        ]

    async def _list_module(
        self, target: Target, module: str, tree: _ModuleTree, tally: WalkTally
    ) -> ShareAccess:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "USER": "pacsaudit",
            "RSYNC_PASSWORD": "",  # never a prompt: a module that wants one is just denied
        }
        relay = _ConnectRelay(target, self.options)
        async with relay as relay_port:
            env["RSYNC_PROXY"] = f"127.0.0.1:{relay_port}"
            proc = await asyncio.create_subprocess_exec(
                *self._argv(target, module),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            lines = 0
            try:
                remaining = max(0.1, tally.remaining() - 0.5)
                async with asyncio.timeout(remaining):
                    while True:
                        raw = await proc.stdout.readline()
                        if not raw:
                            break
                        if tally.entries + lines >= self.options.max_entries:
                            tree.truncated = True
                            break
                        lines += 1
                        tree.add(raw.decode("utf-8", "replace").rstrip("\n"))
            except TimeoutError:
                tally.hit(Bound.TIME_BUDGET)
            except ValueError:  # a line longer than the reader's limit
                tally.walk_errors += 1
            finally:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                stderr = b""
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_KILL_GRACE):
                        stderr = await proc.stderr.read(MAX_LINE)
                        await proc.wait()
        if tree.truncated or lines:
            return ShareAccess.LISTED
        if proc.returncode == 0:
            return ShareAccess.LISTED
        if b"auth failed" in stderr or b"access denied" in stderr.lower():
            return ShareAccess.DENIED
        tally.walk_errors += 1
        return ShareAccess.ERROR
