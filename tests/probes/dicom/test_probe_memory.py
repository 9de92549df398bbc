"""The DICOM probe against in-memory peers: no socket, no port, no timing of the network.

The probe's dial is injected (``DicomProbe(dial=...)``, as the share walk takes its backend):
here it returns the project's real :class:`~pacsaudit.net.stream.Connection` on an in-memory
transport whose other end is one of the hostile peers of ``tests/hostile_servers.py``, run on
an ``asyncio.StreamReader``/writer pair. Everything from the first A-ASSOCIATE-RQ to the
release is the probe's own code; only the bytes never touch the kernel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hostile_servers import (
    DCMTK_UID,
    accepts_then_aborts,
    good_acceptor,
    known_default_only,
)
from pacsaudit.measure.classify import classify
from pacsaudit.model import AePolicy, DicomResult, ErrorKind, ExposureClass, Finding, Status
from pacsaudit.net.stream import Connection, DialOptions
from pacsaudit.probes.dicom.options import Depth, DicomOptions
from pacsaudit.probes.dicom.probe import DicomProbe
from pacsaudit.targets.spec import Target

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TARGET = Target("192.0.2.10", 104)  # never dialled: the peer is in memory


class _ScannerSide(asyncio.Transport):
    """The transport under the probe's Connection: writes go to the peer's reader."""

    def __init__(self, peer_reader: asyncio.StreamReader) -> None:
        super().__init__()
        self._peer = peer_reader
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing:
            self._peer.feed_data(bytes(data))

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._peer.feed_eof()

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _PeerWriter:
    """What a peer handler writes to: straight into the probe's Connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._closed = False

    def write(self, data: bytes) -> None:
        if not self._closed:
            self._conn.data_received(bytes(data))

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.connection_lost(None)

    def is_closing(self) -> bool:
        return self._closed

    async def wait_closed(self) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class MemoryPeers:
    """A dial that connects every attempt to a fresh run of ``handler`` in memory."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.dials = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def __call__(
        self, ip: str, port: int, options: DialOptions, **_tls: object
    ) -> Connection:
        self.dials += 1
        loop = asyncio.get_running_loop()
        conn = Connection(loop)
        reader = asyncio.StreamReader()
        conn.connection_made(_ScannerSide(reader))
        writer = _PeerWriter(conn)
        self.tasks.append(loop.create_task(self._serve(reader, writer)))
        return conn

    async def _serve(self, reader: asyncio.StreamReader, writer: _PeerWriter) -> None:
        try:
            await self.handler(reader, writer)  # type: ignore[arg-type]
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def scan(handler: Handler, **options: Any) -> tuple[Finding, MemoryPeers]:
    peers = MemoryPeers(handler)
    probe = DicomProbe(
        DicomOptions(depth=Depth.DISCOVER, read_timeout=2.0, budget=5.0, **options), dial=peers
    )

    async def main() -> Finding:
        finding = await probe.scan(TARGET)
        await asyncio.gather(*peers.tasks, return_exceptions=True)
        return classify(finding)

    return asyncio.run(main()), peers


def result(finding: Finding) -> DicomResult:
    assert isinstance(finding.result, DicomResult)
    return finding.result


def test_an_open_acceptor_is_associated_echoed_and_released() -> None:
    finding, peers = scan(good_acceptor)
    assert finding.status is Status.DICOM
    r = result(finding)
    assert r.ae_policy is AePolicy.ANY_CALLED_AE
    assert r.implementation_class_uid == DCMTK_UID
    assert r.toolkit == "DCMTK"
    assert r.echo_status == 0
    assert r.attempts[0].released is True
    assert r.accepted_contexts == ["Verification"]
    assert r.exposure_class is ExposureClass.OPEN_ASSOCIATION
    # accepted at once: no second try of AE titles, and the storage classes were answered on
    # the same association (all refused): no association of the storage check's own
    assert peers.dials == 1
    assert r.storage is not None
    assert (r.storage.shared, r.storage.associations, r.storage.accepted) == (True, 0, [])


def test_a_refused_random_title_then_the_known_default() -> None:
    finding, peers = scan(known_default_only)
    r = result(finding)
    assert peers.dials == 2  # random title, ANY-SCP (the storage classes answered on it)
    assert r.ae_policy is AePolicy.CALLED_AE_KNOWN_DEFAULT
    assert r.accepted_called_ae == "ANY-SCP"
    assert [a.outcome for a in r.attempts] == ["rejected", "accepted"]


def test_an_abort_after_the_accept_keeps_what_was_learnt() -> None:
    finding, _ = scan(accepts_then_aborts)
    r = result(finding)
    assert finding.status is Status.DICOM
    assert r.ae_policy is AePolicy.ANY_CALLED_AE
    assert r.attempts[0].abort is not None
    assert r.echo_status is None
    assert r.attempts[0].released is not True


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1 << 16)  # takes the RQ, answers nothing, hangs up
    writer.close()


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1 << 16)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n")
    await writer.drain()
    writer.close()


def test_a_silent_close_is_an_eof_error() -> None:
    finding, _ = scan(_silent)
    assert finding.status is Status.ERROR
    assert finding.error is not None
    assert finding.error.kind is ErrorKind.EOF


def test_an_http_answer_is_open_not_dicom_with_a_printable_banner() -> None:
    finding, _ = scan(_http)
    assert finding.status is Status.OPEN_NOT_DICOM
    banner = result(finding).banner
    assert banner is not None
    assert banner.startswith("HTTP/1.1 400")
    assert "\r" not in banner


@pytest.mark.parametrize("handler", [good_acceptor, known_default_only, accepts_then_aborts])
def test_no_peer_is_left_running(handler: Handler) -> None:
    _, peers = scan(handler)
    assert all(task.done() for task in peers.tasks)
