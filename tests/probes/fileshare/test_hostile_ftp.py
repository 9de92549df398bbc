"""The FTP probe against FTP servers written to misbehave: each one bounded and recorded.

A small asyncio FTP server on loopback plays one scenario per test: a tarpit, an endless
greeting, a refused login, a peer that is not FTP, a server that lies in its listings (sizes,
names, a folder that contains itself, unparsable lines) and streams an endless "DICOM" file,
and a PASV reply naming another host (the conftest guard fails any connection off loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec

from pacsaudit.measure.classify import classify
from pacsaudit.model import ErrorKind, ExposureClass, FileShareResult, Finding, Status
from pacsaudit.probes.fileshare.ftp import FtpProbe
from pacsaudit.probes.fileshare.walk import WalkOptions
from pacsaudit.targets.spec import Target

DICOM_HEAD = b"\0" * 128 + b"DICM"
OPTIONS = WalkOptions(budget=3.0, read_timeout=0.5, connect_timeout=0.5, max_header_bytes=8192)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await handler(reader, writer)
        writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        # Cut the connections and let the handlers end on their own: cancelling them makes
        # Python 3.11's stream callback print a traceback.
        server.close()
        for writer in writers:
            writer.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)


class LyingFtp:
    """Anonymous login, LIST only (MLSD refused), listings that lie, RETR per scenario."""

    def __init__(self, *, pasv_host: str = "127,0,0,1") -> None:
        self.pasv_host = pasv_host
        self.data: asyncio.Future[asyncio.StreamWriter] | None = None
        """The data connection of the latest PASV: a refused command leaves it unused."""
        self.listener: asyncio.Server | None = None
        self.sent_bytes = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 lying ftpd\r\n")
        for _ in range(500):  # bounded: a test server never loops for ever either
            line = await reader.readline()
            if not line:
                return
            verb, _, arg = line.decode("latin-1").strip().partition(" ")
            await self.command(verb.upper(), arg, writer)

    async def command(self, verb: str, arg: str, w: asyncio.StreamWriter) -> None:
        if verb == "USER":
            w.write(b"331 any password\r\n")
        elif verb == "PASS":
            w.write(b"230 welcome\r\n")
        elif verb == "PWD":
            w.write(b'257 "/" is here\r\n')
        elif verb in ("TYPE", "OPTS"):
            w.write(b"200 ok\r\n")
        elif verb == "EPSV":
            w.write(b"500 no EPSV\r\n")
        elif verb == "PASV":
            port = await self.open_data()
            w.write(f"227 Entering ({self.pasv_host},{port >> 8},{port & 255})\r\n".encode())
        elif verb == "MLSD":
            w.write(b"500 unknown\r\n")
        elif verb == "LIST":
            await self.send(w, self.listing(arg))
        elif verb == "RETR":
            await self.retr(arg, w)
        elif verb == "QUIT":
            w.write(b"221 bye\r\n")
        else:
            w.write(b"502 not implemented\r\n")

    async def open_data(self) -> int:
        future: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()
        self.data = future

        async def accept(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if not future.done():
                future.set_result(writer)

        self.listener = await asyncio.start_server(accept, "127.0.0.1", 0)
        port: int = self.listener.sockets[0].getsockname()[1]
        return port

    def listing(self, path: str) -> bytes:
        rows = [
            "drwxr-xr-x 2 o g 4096 Jan 01 2020 again",  # a folder that contains itself
            "-rw-r--r-- 1 o g 99999999999999 Jan 01 2020 huge.dcm",
            "-rw-r--r-- 1 o g 1000 Jan 01 2020 gone.dcm",  # listed, then 550 on RETR
            "-rw-r--r-- 1 o g -5 Jan 01 2020 negative.dcm",
            "total garbage that no parser understands",
            "drwxrwxrwx 2 o g 4096 Jan 01 2020 ../../etc",
        ]
        return ("\r\n".join(rows) + "\r\n").encode()

    async def send(self, w: asyncio.StreamWriter, payload: bytes) -> None:
        assert self.data is not None
        data = await self.data
        w.write(b"150 here it comes\r\n")
        data.write(payload)
        with contextlib.suppress(ConnectionError):
            await data.drain()
        data.close()
        w.write(b"226 done\r\n")

    async def retr(self, path: str, w: asyncio.StreamWriter) -> None:
        assert self.data is not None
        data = await self.data
        if path.endswith("gone.dcm"):
            data.close()
            w.write(b"550 no such file\r\n")
            return
        w.write(b"150 endless\r\n")
        data.write(DICOM_HEAD)
        try:  # an endless file: only the client's reset stops it
            for _ in range(100_000):
                data.write(b"\x08\x00\x16\x00UI\x02\x001\x00" * 400)
                self.sent_bytes += 4800
                await data.drain()
        except ConnectionError:
            pass
        data.close()
        w.write(b"426 aborted\r\n")


async def probe(port: int, options: WalkOptions = OPTIONS) -> Finding:
    return classify(await FtpProbe(options).scan(Target("127.0.0.1", port)))


def timed(handler: Handler, options: WalkOptions = OPTIONS) -> tuple[Finding, float]:
    async def main() -> tuple[Finding, float]:
        async with serve(handler) as port:
            started = time.monotonic()
            found = await probe(port, options)
            return found, time.monotonic() - started

    return asyncio.run(main())


def test_tarpit_greeting_is_a_read_timeout() -> None:
    async def tarpit(reader: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        await reader.read(1)  # waits until the client gives up

    found, took = timed(tarpit)
    assert found.status is Status.ERROR
    assert found.error is not None
    assert found.error.kind is ErrorKind.READ_TIMEOUT
    assert took < OPTIONS.budget + OPTIONS.connect_timeout


def test_endless_greeting_is_bounded() -> None:
    async def endless(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for _ in range(1_000_000):
            w.write(b"220-welcome, this greeting never ends\r\n")
            await w.drain()

    found, took = timed(endless)
    assert found.status is Status.ERROR
    assert took < OPTIONS.budget + OPTIONS.connect_timeout + 1


def test_refused_anonymous_login_is_auth_required() -> None:
    async def refuse(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220 private ftpd\r\n")
        for reply in (b"331 password please\r\n", b"530 login incorrect\r\n"):
            await reader.readline()
            w.write(reply)
        await reader.read(100)

    found, _ = timed(refuse)
    assert found.status is Status.FTP
    assert isinstance(found.result, FileShareResult)
    assert not found.result.anonymous
    assert found.result.exposure_class is ExposureClass.AUTH_REQUIRED
    assert found.result.severity == "low"


def test_not_ftp() -> None:
    async def ssh(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await w.drain()
        await _r.read(1)  # until the client hangs up

    found, took = timed(ssh)
    assert found.status is Status.ERROR
    assert found.error is not None
    assert found.error.detail == "not-ftp"
    assert took < 1.5


def test_lying_server_is_bounded_and_recorded() -> None:
    server = LyingFtp()
    found, took = timed(server, msgspec.structs.replace(OPTIONS, max_depth=3))
    assert found.status is Status.FTP
    r = found.result
    assert isinstance(r, FileShareResult)
    assert r.anonymous
    assert "max-depth" in r.bounds_hit  # "again" contains itself: only the depth bound stops it
    assert r.walk_errors >= 1  # gone.dcm: 550
    # The endless DICOM file: detected, sampled, and read only up to the header limit.
    assert r.dicom_files >= 1
    assert r.headers_truncated >= 1
    assert r.bytes_read <= r.files_read * 8192
    assert server.sent_bytes < 50 * 1024 * 1024
    assert r.world_writable_dirs == 0  # "../../etc" is no folder name: skipped, recorded
    assert r.bytes < 1 << 40  # the absurd size is not added up
    assert took < OPTIONS.budget + 1


def test_pasv_naming_another_host_is_not_followed() -> None:
    """The PASV reply names 10.0.0.1: the probe connects to the target's own address only
    (tests/conftest.py would fail any connection off loopback)."""
    found, _ = timed(LyingFtp(pasv_host="10,0,0,1"), msgspec.structs.replace(OPTIONS, max_depth=1))
    assert found.status is Status.FTP
    assert isinstance(found.result, FileShareResult)
    assert found.result.directories >= 1


def test_closed_port() -> None:
    async def main() -> Finding:
        async with serve(lambda _r, _w: asyncio.sleep(0)) as port:
            pass
        return await probe(port)

    found = asyncio.run(main())
    assert found.status is Status.CLOSED
