"""The FTP probe: anonymous login, then the bounded walk of :mod:`.walk`.

aioftp speaks the protocol (replies, ``EPSV``/``PASV``, ``MLSD`` and ``LIST`` parsing); every
connection it makes, control and data, is dialled by pacsaudit's own dialer
(:func:`pacsaudit.net.stream.connect_socket`, ``connect_ex``), and a data connection is only
ever opened to the target's own address: a ``PASV`` reply naming another host is ignored, as
aioftp does by default, and refused here in case it ever did not.

Reads are partial: ``RETR``, read what the walk asks for (132 bytes for the ``DICM`` magic, a
header up to Pixel Data for a sample), then reset the data connection and collect the server's
426/226. The data socket's receive buffer is shrunk before ``RETR``, so the server cannot push
much more than that into our kernel before the reset. Names are decoded as Latin-1, which maps
every byte and so round-trips any name the server lists back into the commands that use it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import PurePosixPath

import aioftp

from pacsaudit.contract import make_finding
from pacsaudit.errors import ProtocolError, ReadTimeout, classify
from pacsaudit.model import Finding, ShareAccess, Status
from pacsaudit.net.stream import connect_socket
from pacsaudit.peertext import printable_text
from pacsaudit.probes.fileshare import FTP
from pacsaudit.probes.fileshare.common import ShareProbe
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.fileshare.walk import (
    READ_CHUNK,
    Entry,
    EntryError,
    EntryKind,
    Listing,
    Want,
    walk_share,
)
from pacsaudit.targets.spec import Target

ANONYMOUS_USER = "anonymous"
ANONYMOUS_PASSWORD = "pacsaudit@"
"""By convention the anonymous password is a mail address; ours names the scanner."""
DATA_RCVBUF = 32 * 1024
MLST_FACTS = "OPTS MLST type;size;modify;perm;unix.mode;unique;"
MAX_REPLY_LINES = 200


class _DialedClient(aioftp.Client):
    """aioftp with every connection dialled by pacsaudit, to the target's address only."""

    def __init__(self, target_ip: str, options: WalkOptions) -> None:
        super().__init__(
            socket_timeout=options.read_timeout,
            connection_timeout=options.connect_timeout,
            encoding="latin-1",
        )
        self._target_ip = target_ip
        self._connect_timeout = options.connect_timeout

    async def _open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if host != self._target_ip:
            raise ProtocolError("data-elsewhere", "the server named another host for data")
        sock = await connect_socket(host, port, self._connect_timeout)
        if self._stream is not None:  # a data connection: keep the server from racing ahead
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, DATA_RCVBUF)
        try:
            return await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise

    async def parse_response(self) -> tuple[aioftp.Code, list[str]]:
        """aioftp's reply reader with two guards: a first line that does not start with a
        three-digit code is no FTP at all, and a multi-line reply has at most
        ``MAX_REPLY_LINES`` lines (an endless ``220-`` greeting)."""
        code, rest = await self.parse_line()
        if not (len(code) == 3 and code.isdigit()):
            raise ProtocolError("not-ftp", "the peer is not an FTP server")
        info = [rest]
        current = code
        while rest.startswith("-") or not current.isdigit():
            if len(info) >= MAX_REPLY_LINES:
                raise ProtocolError("reply-too-long", "an FTP reply longer than the limit")
            current, rest = await self.parse_line()
            if current.isdigit():
                info.append(rest)
                if current != code:
                    raise aioftp.StatusCodeError(code, current, info)
            else:
                info.append(current + rest)
        return code, info


def _reply_code(exc: aioftp.StatusCodeError) -> str:
    return str(exc.received_codes[-1]) if exc.received_codes else ""


class _FtpBackend:
    can_read = True

    def __init__(self, client: _DialedClient, root: PurePosixPath) -> None:
        self.client = client
        self.root = root
        self.mlsd: bool | None = None

    def _remote(self, path: tuple[str, ...]) -> str:
        return str(self.root.joinpath(*path)) if path else str(self.root)

    async def _open(self, command: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A passive data connection with ``command`` accepted (1xx), or EntryError."""
        reader, writer = await self.client.get_passive_connection("I")
        try:
            await self.client.command(command, "1xx")
        except aioftp.StatusCodeError as exc:
            writer.transport.abort()
            raise EntryError(f"refused-{_reply_code(exc)}") from None
        except aioftp.errors.InvalidCommand:  # a name with CR or LF in it
            writer.transport.abort()
            raise EntryError("unusable-name") from None
        except BaseException:
            writer.transport.abort()
            raise
        return reader, writer

    async def _end_transfer(self, writer: asyncio.StreamWriter, *, complete: bool) -> None:
        """Close the data connection (a reset when cut short) and read the final reply."""
        if complete:
            writer.close()
        else:
            writer.transport.abort()
        await self.client.command(None, ("2xx", "4xx", "5xx"), "1xx")

    async def list_dir(self, path: tuple[str, ...], limit: int) -> Listing:
        remote = self._remote(path)
        opened: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        if self.mlsd is not False:
            try:
                opened = await self._open(f"MLSD {remote}")
                self.mlsd = True
            except EntryError as exc:
                if self.mlsd is None and exc.code.startswith("refused-50"):
                    self.mlsd = False  # not implemented: LIST from now on
                else:
                    raise
        mlsd = opened is not None
        if opened is None:
            opened = await self._open(f"LIST {remote}")
        reader, writer = opened
        entries: list[Entry] = []
        truncated = False
        while True:
            line = await reader.readline()
            if not line:
                break
            if len(entries) >= limit:
                truncated = True
                break
            entry = self._parse(line, mlsd=mlsd)
            if entry is not None:
                entries.append(entry)
        await self._end_transfer(writer, complete=not truncated)
        return Listing(entries, truncated)

    def _parse(self, line: bytes, *, mlsd: bool) -> Entry | None:
        try:
            # Names are kept as listed: one with a "/" in it is a lie the walk records.
            if mlsd:
                name, facts = self.client.parse_mlsx_line(line)
                return _mlsd_entry(str(name), dict(facts))
            name, info = self.client.parse_list_line(line)
            return _list_entry(str(name), dict(info))
        except (ValueError, KeyError, IndexError):
            return None  # a line no parser understands is skipped, not fatal

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        reader, writer = await self._open(f"RETR {self._remote(path)}")
        buffer = b""
        ended = False
        while True:
            target = want(buffer)
            if len(buffer) >= target:
                break
            chunk = await reader.read(min(target - len(buffer), READ_CHUNK))
            if not chunk:
                ended = True
                break
            buffer += chunk
        await self._end_transfer(writer, complete=ended)
        return buffer, ended


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _mode(value: object) -> int | None:
    text = str(value).strip().lower().removeprefix("0o")
    try:
        return int(text, 8) if text else None
    except ValueError:
        return None


def _mlsd_entry(name: str, facts: dict[str, object]) -> Entry | None:
    kind_fact = str(facts.get("type", "")).lower()
    if kind_fact == "cdir":
        unique = facts.get("unique")
        return Entry(name=".", kind=EntryKind.OTHER, identity=str(unique) if unique else None)
    if kind_fact == "pdir":
        return None
    if kind_fact == "dir":
        kind = EntryKind.DIR
    elif kind_fact == "file":
        kind = EntryKind.FILE
    elif "symlink" in kind_fact or "slink" in kind_fact:
        kind = EntryKind.LINK
    else:
        kind = EntryKind.OTHER
    perm = str(facts.get("perm", ""))
    unique = facts.get("unique")
    return Entry(
        name=name,
        kind=kind,
        size=_int(facts.get("size", "")),
        mode=_mode(facts["unix.mode"]) if "unix.mode" in facts else None,
        writable=("c" in perm or "m" in perm) if kind is EntryKind.DIR and perm else None,
        identity=str(unique) if unique else None,
    )


def _list_entry(name: str, info: dict[str, object]) -> Entry:
    if "link_dst" in info:
        kind = EntryKind.LINK
    elif info.get("type") == "dir":
        kind = EntryKind.DIR
    elif info.get("type") == "file":
        kind = EntryKind.FILE
    else:
        kind = EntryKind.OTHER
    mode = info.get("unix.mode")
    return Entry(
        name=name,
        kind=kind,
        size=_int(info.get("size", "")),
        mode=mode if isinstance(mode, int) else None,
    )


class FtpProbe(ShareProbe, spec=FTP):
    async def scan(self, target: Target) -> Finding:
        started = time.perf_counter()
        tally = self.new_tally()
        client = _DialedClient(target.ip, self.options)
        server: str | None = None
        try:
            async with asyncio.timeout(tally.op_timeout() + self.options.connect_timeout):
                greeting = await client.connect(target.ip, target.port)
            server = _greeting(greeting)
            try:
                async with asyncio.timeout(tally.op_timeout()):
                    await client.login(ANONYMOUS_USER, ANONYMOUS_PASSWORD)
            except aioftp.StatusCodeError as exc:
                # 530 and any other permanent refusal: no anonymous access. A 421 (busy,
                # closing) says nothing about access: it is recorded as an error below.
                if _reply_code(exc).startswith("5"):
                    result = tally.result(server=server, login=None, anonymous=False)
                    return make_finding(self.name, target, started, Status.FTP, result)
                raise
            async with asyncio.timeout(tally.op_timeout()):
                await client.command(MLST_FACTS, ("2xx", "4xx", "5xx"))
                root = await _start_folder(client)
            share = tally.share("/")
            await walk_share(_FtpBackend(client, root), share, tally)
            if share.access is ShareAccess.DENIED:
                tally.walk_errors = max(tally.walk_errors, 1)
            result = tally.result(server=server, login=ANONYMOUS_USER, anonymous=True)
            return make_finding(self.name, target, started, Status.FTP, result)
        except aioftp.StatusCodeError as exc:
            if server is None and not _reply_code(exc)[:3].isdigit():
                return self._not_ftp(target, started)
            error = classify(aioftp_error(exc)).error
            return make_finding(self.name, target, started, Status.FTP, None, error)
        except (UnicodeDecodeError, ValueError) as exc:
            if server is None:
                return self._not_ftp(target, started)
            classified = classify(exc)
            return make_finding(
                self.name, target, started, classified.status, None, classified.error
            )
        except Exception as exc:
            classified = classify(aioftp_error(exc))
            if server is not None:
                tally.error = classified.error
                result = tally.result(server=server, login=None, anonymous=False)
                return make_finding(
                    self.name, target, started, Status.FTP, result, classified.error
                )
            return make_finding(
                self.name, target, started, classified.status, None, classified.error
            )
        finally:
            await _quit(client)

    def _not_ftp(self, target: Target, started: float) -> Finding:
        classified = classify(ProtocolError("not-ftp", "the peer is not an FTP server"))
        return make_finding(self.name, target, started, classified.status, None, classified.error)


def aioftp_error(exc: BaseException) -> BaseException:
    """aioftp's adapter for :func:`pacsaudit.errors.classify`: its exceptions in our words.

    aioftp times its reads with plain ``TimeoutError``: after connecting that is a silent peer,
    not our budget. A reply with an unexpected code is a protocol violation named by the code.
    """
    if type(exc) is TimeoutError:
        return ReadTimeout()
    if isinstance(exc, aioftp.StatusCodeError):
        return ProtocolError(f"reply-{_reply_code(exc)}", "unexpected FTP reply")
    return exc


def _greeting(lines: list[str]) -> str:
    first = lines[0].strip() if lines else ""
    return printable_text(first, 96)


async def _start_folder(client: _DialedClient) -> PurePosixPath:
    try:
        return await client.get_current_directory()
    except (aioftp.StatusCodeError, ValueError, IndexError):
        return PurePosixPath("/")


async def _quit(client: _DialedClient) -> None:
    """A polite QUIT when the session still stands; never more than a second."""
    if client._stream is None:
        return
    try:
        async with asyncio.timeout(1.0):
            await client.command("QUIT", ("2xx", "4xx", "5xx"))
    except Exception:  # the session may already be gone; closing is all that matters
        pass
    finally:
        client.close()
