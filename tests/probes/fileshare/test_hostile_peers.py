"""The rsync and SMB probes against peers written to misbehave, and the rsync relay's rule.

rsync: a daemon whose message of the day never ends, one that greets and then falls silent,
one that is not rsync. SMB: a tarpit and a peer that answers garbage. Each ends within its
bound with the reason recorded. The relay that the rsync client goes through dials the target
and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvloop

from pacsaudit.contract import Probe
from pacsaudit.model import ErrorKind, FileShareResult, Finding, Status
from pacsaudit.probes.fileshare.rsync import RsyncProbe, _ConnectRelay, _pipe
from pacsaudit.probes.fileshare.smb import SmbProbe
from pacsaudit.probes.fileshare.walk import WalkOptions
from pacsaudit.targets.spec import Target

OPTIONS = WalkOptions(budget=3.0, read_timeout=0.5, connect_timeout=0.5)
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
        with contextlib.suppress(ConnectionError):
            await handler(reader, writer)
        writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)


def scan(probe: Probe, handler: Handler) -> tuple[Finding, float]:
    async def main() -> tuple[Finding, float]:
        async with serve(handler) as port:
            started = time.monotonic()
            found = await probe.scan(Target("127.0.0.1", port))
            return found, time.monotonic() - started

    return asyncio.run(main())


async def endless_motd(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"@RSYNCD: 31.0\n")
    for _ in range(100_000):
        w.write(b"Welcome to the archive, no tab on this line\n")
        await w.drain()


async def greet_then_silence(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"@RSYNCD: 31.0\n")
    await w.drain()
    await reader.read(1000)
    await reader.read(1)  # until the client hangs up


async def tarpit(reader: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
    while await reader.read(4096):
        pass


async def garbage(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await reader.read(4096)
    w.write(b"\x00\x00\x00\x10" + b"\xff" * 16 + b"HTTP/1.1 400 Bad Request\r\n\r\n")
    await w.drain()


def test_rsync_endless_motd_is_bounded() -> None:
    found, took = scan(RsyncProbe(OPTIONS), endless_motd)
    assert found.status is Status.RSYNC
    assert isinstance(found.result, FileShareResult)
    assert found.result.bounds_hit == ["max-shares"]
    assert not found.result.anonymous
    assert took < OPTIONS.budget


def test_rsync_silence_after_greeting() -> None:
    found, took = scan(RsyncProbe(OPTIONS), greet_then_silence)
    assert found.status is Status.RSYNC
    assert isinstance(found.result, FileShareResult)
    assert found.result.error is not None
    assert found.result.error.kind is ErrorKind.READ_TIMEOUT
    assert took < OPTIONS.budget


async def ftp_banner(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"220 not rsync\r\n")
    await w.drain()
    await reader.read(1)


async def no_newline(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"@RSYNCD: 31.0\n" + b"x" * 20_000)
    await w.drain()
    await reader.read(1)


@pytest.mark.parametrize(
    ("handler", "status", "detail"),
    [
        (ftp_banner, Status.ERROR, "not-rsync"),
        (garbage, Status.ERROR, None),  # waits for us to speak first: a silent peer
    ],
    ids=["ftp-banner", "silent"],
)
def test_rsync_probe_on_non_rsync_peers(
    handler: Handler, status: Status, detail: str | None
) -> None:
    found, took = scan(RsyncProbe(OPTIONS), handler)
    assert found.status is status
    assert found.error is not None
    assert found.error.detail == detail
    assert took < OPTIONS.budget


def test_rsync_line_without_end_is_bounded() -> None:
    found, _ = scan(RsyncProbe(OPTIONS), no_newline)
    assert found.status is Status.RSYNC
    assert isinstance(found.result, FileShareResult)
    assert found.result.error is not None
    assert found.result.error.detail == "line-too-long"


@pytest.mark.parametrize("handler", [tarpit, garbage], ids=["tarpit", "garbage"])
def test_smb_probe_on_hostile_peers(handler: Handler) -> None:
    found, took = scan(SmbProbe(OPTIONS), handler)
    assert found.status is Status.ERROR
    assert found.error is not None
    assert took < OPTIONS.budget + OPTIONS.connect_timeout + 1


@pytest.mark.parametrize(
    ("authority", "allowed"),
    [
        (b"127.0.0.1:873", True),
        (b"127.0.0.1:874", False),
        (b"127.0.0.2:873", False),
        (b"10.0.0.1:873", False),
        (b"evil.example:873", False),
        (b"[::1]:873", False),
    ],
)
def test_relay_dials_the_target_only(authority: bytes, allowed: bool) -> None:
    relay = _ConnectRelay(Target("127.0.0.1", 873), OPTIONS)
    assert relay._allowed(authority) is allowed


def test_relay_refuses_another_host_over_the_wire() -> None:
    async def main() -> bytes:
        relay = _ConnectRelay(Target("127.0.0.1", 9), OPTIONS)
        async with relay as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"CONNECT 10.0.0.1:873 HTTP/1.0\r\n\r\n")
            answer = await reader.read(100)
            writer.close()
            return answer

    assert asyncio.run(main()).startswith(b"HTTP/1.0 403")


def test_relay_pipe_ends_quietly_when_its_writer_is_already_closed() -> None:
    """The relay's two pipes race: one may close the connection the other half-closes."""

    async def main() -> None:
        reader = asyncio.StreamReader()
        reader.feed_eof()
        left, right = socket.socketpair()
        with left, right:
            _, writer = await asyncio.open_connection(sock=left)
            writer.close()
            await writer.wait_closed()
            await _pipe(reader, writer)  # must not raise

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
