"""Peers written on purpose to misbehave, on 127.0.0.1 ephemeral ports, for the probe tests.

Each peer is a small asyncio handler; :class:`PeerServer` runs one on a fresh port and, on exit,
cuts every connection it still holds and waits (bounded) for its handlers, so a test never
leaves a task or a socket behind. :data:`SCENARIOS` lists every peer with the finding the
probe must make of it; ``test_hostile.py`` checks them one by one and ``test_model.py``
validates the findings against the JSON schema.

The well-behaved acceptor answers like DCMTK 3.6.7 (dcmqrscp, Orthanc 1.10): the A-ASSOCIATE-AC
is encoded by pynetdicom, an independent implementation, from the request it decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import socket
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import PresentationContext

from pacsaudit.engine.options import EngineOptions
from pacsaudit.engine.runner import run_scan
from pacsaudit.model import ErrorKind, Finding, Status
from pacsaudit.net.stream import DialOptions
from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.dimse import c_echo_rsp, decode_command_set
from pacsaudit.probes.dicom.probe import DicomOptions, DicomProbe
from pacsaudit.targets.spec import Target

MAX_PDUS = 100_000
"""PDUs one test peer answers in a conversation: bounded, so every test loop ends."""

LOOPBACK = "127.0.0.1"
DCMTK_UID = "1.2.276.0.7230010.3.0.3.6.7"
DCMTK_VERSION = "OFFIS_DCMTK_367"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
HTTP_400 = (
    b"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)
GARBAGE = b"\x9c\x00\xfe\xed\xfa\xce garbage \x00\x01\x02\x03\xff"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# --- the server harness --------------------------------------------------------------------


class PeerServer:
    """``async with PeerServer(handler) as server:`` serves ``handler`` on ``server.port``."""

    def __init__(
        self, handler: Handler, *, tls: ssl.SSLContext | None = None, host: str = LOOPBACK
    ) -> None:
        self._handler = handler
        self._tls = tls
        self._host = host
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.accepted = 0
        self.finished = 0
        self.client_gone = asyncio.Event()
        """Set whenever a handler ends because the client closed or reset its connection."""

    async def __aenter__(self) -> PeerServer:
        self._server = await asyncio.start_server(self._serve, self._host, 0, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away: that is what the probe is expected to do
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            self.finished += 1
            self.client_gone.set()

    async def wait_all_finished(self, timeout: float = 2.0) -> None:
        """Until every accepted connection's handler ended (the client let go of it)."""
        async with asyncio.timeout(timeout):
            while self.finished < self.accepted:
                self.client_gone.clear()
                await self.client_gone.wait()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # wakes every handler blocked on a read
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        for task in self._tasks:
            task.cancel()
        await self._server.wait_closed()


def closed_port() -> int:
    """A port on which nothing listens: bound once to reserve a number, then released."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    finally:
        sock.close()
    return port


# --- protocol helpers for the peers --------------------------------------------------------


async def read_pdu(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One whole PDU from the scanner (header and body); the scanner is trusted here."""
    header = await reader.readexactly(6)
    pdu_type, _, length = struct.unpack(">BBL", header)
    if pdu_type not in pdu.KNOWN_PDU_TYPES or length > 1 << 20:
        raise ConnectionResetError("not a DICOM PDU from the scanner")
    return pdu_type, header + await reader.readexactly(length)


async def drain_until_eof(reader: asyncio.StreamReader) -> None:
    """Swallow whatever the client sends until it goes away."""
    while await reader.read(4096):
        pass


def accept_for(
    request: bytes,
    *,
    class_uid: str | None = DCMTK_UID,
    version: str | None = DCMTK_VERSION,
    max_length: int = 16384,
    accept_all: bool = False,
) -> bytes:
    """The A-ASSOCIATE-AC a DCMTK-like acceptor sends: Verification accepted with Implicit VR
    Little Endian, every other context refused (abstract syntax not supported) — or, with
    ``accept_all``, every context accepted with Implicit VR Little Endian (a Q/R SCP, or a
    honeypot when the SOP class is made up). ``class_uid=None`` leaves the item out."""
    rq = A_ASSOCIATE_RQ()
    rq.decode(request)
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.called_ae_title = rq.called_ae_title
    primitive.calling_ae_title = rq.calling_ae_title
    primitive.result = 0
    results = []
    for item in rq.presentation_context:
        proposed = item.to_primitive()
        ctx = PresentationContext()
        ctx.context_id = proposed.context_id
        if accept_all or (
            proposed.abstract_syntax == VERIFICATION and IMPLICIT_VR_LE in proposed.transfer_syntax
        ):
            ctx.result = 0
            ctx.transfer_syntax = [IMPLICIT_VR_LE]
        else:
            ctx.result = 3
            ctx.transfer_syntax = [proposed.transfer_syntax[0]]
        results.append(ctx)
    primitive.presentation_context_definition_results_list = results
    max_item = MaximumLengthNotification()
    max_item.maximum_length_received = max_length
    user: list[Any] = [max_item]
    if class_uid is not None:
        uid_item = ImplementationClassUIDNotification()
        uid_item.implementation_class_uid = class_uid
        user.append(uid_item)
    if version is not None:
        version_item = ImplementationVersionNameNotification()
        version_item.implementation_version_name = version
        user.append(version_item)
    primitive.user_information = user
    encoded: bytes = A_ASSOCIATE_AC(primitive).encode()
    return encoded


def called_ae(request: bytes) -> str:
    return request[pdu.CALLED_AE_OFFSET : pdu.CALLED_AE_OFFSET + 16].decode().strip()


async def serve_association(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After an A-ASSOCIATE-AC: answer C-ECHO and release like a conformant acceptor."""
    for _ in range(MAX_PDUS):  # a conversation far longer than any probe's ends anyway
        pdu_type, raw = await read_pdu(reader)
        if pdu_type == pdu.PduType.P_DATA_TF:
            parsed = pdu.parse_body(pdu_type, raw[6:])
            assert isinstance(parsed, pdu.PData)
            pdv = parsed.pdvs[0]
            command = decode_command_set(pdv.data)
            message_id = command.elements.get(0x0110)
            assert isinstance(message_id, int)
            writer.write(pdu.encode_p_data([(pdv.context_id, 0x03, c_echo_rsp(message_id))]))
        elif pdu_type == pdu.PduType.RELEASE_RQ:
            writer.write(pdu.RELEASE_RP)
            await writer.drain()
            await drain_until_eof(reader)
            return
        else:
            return


# --- the peers -----------------------------------------------------------------------------


async def good_acceptor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts any called AE title, answers C-ECHO with success, releases."""
    pdu_type, request = await read_pdu(reader)
    if pdu_type != pdu.PduType.ASSOCIATE_RQ:
        return
    writer.write(accept_for(request))
    await serve_association(reader, writer)


async def known_default_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Refuses every called AE title but ANY-SCP (reason 7), as a configured DCMTK does."""
    _, request = await read_pdu(reader)
    if called_ae(request) != "ANY-SCP":
        writer.write(pdu.encode_associate_rj(1, 1, 7))
        await writer.drain()
        await drain_until_eof(reader)
        return
    writer.write(accept_for(request))
    await serve_association(reader, writer)


async def calling_ae_enforced(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Refuses our calling AE title (reason 3) whatever we call it."""
    await read_pdu(reader)
    writer.write(pdu.encode_associate_rj(1, 1, 3))
    await writer.drain()
    await drain_until_eof(reader)


async def sends_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(GARBAGE)
    await drain_until_eof(reader)


async def oversized_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Announces an A-ASSOCIATE-AC of 4 GiB - 1 bytes and sends none of it."""
    await read_pdu(reader)
    writer.write(b"\x02\x00\xff\xff\xff\xff")
    await drain_until_eof(reader)


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, reads, never answers."""
    await drain_until_eof(reader)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST: SO_LINGER on with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request, then resets the connection."""
    await read_pdu(reader)
    reset(writer)


async def resets_on_first_bytes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Resets the connection as soon as anything arrives (a TLS ClientHello, say)."""
    await reader.read(1)
    reset(writer)


async def closes_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends FIN as soon as the connection is accepted, before reading anything."""
    writer.write_eof()
    await drain_until_eof(reader)


async def closes_on_non_dicom(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain DICOM acceptor that hangs up politely (FIN) on bytes that are not a request."""
    first = await reader.read(6)
    if first[:1] != b"\x01":
        writer.write_eof()
        await drain_until_eof(reader)


async def http_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What a web server answers to bytes that are not an HTTP request."""
    await reader.read(4096)
    writer.write(HTTP_400)
    await writer.drain()
    writer.write_eof()
    await drain_until_eof(reader)


async def accepts_then_aborts(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    _, request = await read_pdu(reader)
    writer.write(accept_for(request))
    await read_pdu(reader)  # the C-ECHO-RQ
    writer.write(pdu.encode_abort(2, 0))
    await writer.drain()
    await drain_until_eof(reader)


async def accepts_then_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts the association, then never answers the C-ECHO."""
    _, request = await read_pdu(reader)
    writer.write(accept_for(request))
    await drain_until_eof(reader)


async def malformed_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An A-ASSOCIATE-AC whose user information item claims more bytes than the PDU holds."""
    _, request = await read_pdu(reader)
    raw = bytearray(accept_for(request))
    user = raw.rindex(b"\x50\x00")
    raw[user + 2 : user + 4] = b"\x01\x00"
    writer.write(bytes(raw))
    await drain_until_eof(reader)


DRIP_INTERVAL = 0.02


async def drip_feed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Announces a 60,000-byte A-ASSOCIATE-AC and sends it one byte every 20 ms: each read
    succeeds well within the read timeout, only a deadline on the whole target can end it."""
    await read_pdu(reader)
    writer.write(b"\x02\x00\x00\x00\xea\x60")
    for _ in range(60_000):
        await asyncio.sleep(DRIP_INTERVAL)
        writer.write(b"\x00")
        await writer.drain()


async def slow_but_complete(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A conformant acceptor that sends its A-ASSOCIATE-AC one byte per write."""
    _, request = await read_pdu(reader)
    for byte in accept_for(request):
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0)
    await serve_association(reader, writer)


# --- the expected findings -----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    handler: Handler | None
    """None: nothing listens (a closed port)."""
    status: Status
    error_kind: ErrorKind | None = None
    detail: str | None = None
    attempt_error_kind: ErrorKind | None = None
    """For DICOM peers: the error recorded in the first association attempt."""


SCENARIOS = [
    Scenario("good", good_acceptor, Status.DICOM),
    Scenario("known-default-only", known_default_only, Status.DICOM),
    Scenario("calling-ae-enforced", calling_ae_enforced, Status.DICOM),
    Scenario("garbage", sends_garbage, Status.OPEN_NOT_DICOM),
    Scenario("http", http_server, Status.OPEN_NOT_DICOM),
    Scenario(
        "oversized-length",
        oversized_length,
        Status.ERROR,
        ErrorKind.PROTOCOL_VIOLATION,
        "oversized-pdu",
    ),
    Scenario(
        "malformed-accept",
        malformed_accept,
        Status.ERROR,
        ErrorKind.PROTOCOL_VIOLATION,
        "truncated-item",
    ),
    Scenario("tarpit", tarpit, Status.ERROR, ErrorKind.READ_TIMEOUT),
    Scenario("reset", resets, Status.ERROR, ErrorKind.RESET),
    Scenario("closes-at-once", closes_at_once, Status.ERROR, ErrorKind.EOF),
    Scenario(
        "accepts-then-aborts",
        accepts_then_aborts,
        Status.DICOM,
        attempt_error_kind=ErrorKind.PEER_ABORTED,
    ),
    Scenario(
        "accepts-then-silent",
        accepts_then_silent,
        Status.DICOM,
        attempt_error_kind=ErrorKind.READ_TIMEOUT,
    ),
    Scenario("slow-but-complete", slow_but_complete, Status.DICOM),
    Scenario("closed-port", None, Status.CLOSED),
]
BUDGET_SCENARIOS = [
    # Never ends by itself: only the engine's per-target budget stops it.
    Scenario("drip-feed", drip_feed, Status.ERROR, ErrorKind.BUDGET_EXCEEDED),
]
BY_NAME = {s.name: s for s in SCENARIOS + BUDGET_SCENARIOS}


# --- TLS -----------------------------------------------------------------------------------

TLS_SUBJECT = "CN=pacs.hostile.test,O=pacsaudit tests"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed EC certificate and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "pacs.hostile.test"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pacsaudit tests"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("pacs.hostile.test")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(directory: Path) -> ssl.SSLContext:
    cert_path, key_path = self_signed_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@contextlib.asynccontextmanager
async def serving(scenarios: Iterable[Scenario]) -> AsyncIterator[dict[str, int]]:
    """Every scenario's peer on its own port (a released port for "closed"): name → port."""
    async with contextlib.AsyncExitStack() as stack:
        ports: dict[str, int] = {}
        for scenario in scenarios:
            if scenario.handler is None:
                ports[scenario.name] = closed_port()
            else:
                server = await stack.enter_async_context(PeerServer(scenario.handler))
                ports[scenario.name] = server.port
        yield ports


# --- scanning them -------------------------------------------------------------------------

READ_TIMEOUT = 0.3
CONNECT_TIMEOUT = 0.5
HANDSHAKE_TIMEOUT = 0.3
BUDGET = 1.0
"""The engine's per-target budget in these tests; every peer must be judged within it."""


def probe_options(**changes: Any) -> DicomOptions:
    """Short timeouts; the answer to an A-ASSOCIATE-RQ is waited for as long as any other
    (``associate_wait``), since these peers test the read timeout itself."""
    dial = DialOptions(connect_timeout=CONNECT_TIMEOUT, tls_handshake_timeout=HANDSHAKE_TIMEOUT)
    settings: dict[str, Any] = {
        "read_timeout": READ_TIMEOUT,
        "dial": dial,
        "associate_wait": READ_TIMEOUT,
        **changes,
    }
    return DicomOptions(**settings)


async def scan_with_engine(
    scenarios: Iterable[Scenario], *, concurrency: int = 8, budget: float = BUDGET
) -> list[tuple[Scenario, Finding]]:
    """Serve every scenario, scan them all with the engine, pair each finding with its peer."""
    scenarios = list(scenarios)
    async with serving(scenarios) as ports:
        by_port = {ports[s.name]: s for s in scenarios}
        findings: list[Finding] = []
        await run_scan(
            [Target(LOOPBACK, ports[s.name]) for s in scenarios],
            DicomProbe(probe_options()),
            EngineOptions(concurrency=concurrency, host_timeout=budget),
            findings.append,
        )
    return [(by_port[f.port], f) for f in findings]


async def scan_tls_acceptor(directory: Path) -> Finding:
    """The well-behaved acceptor behind TLS with a fresh self-signed certificate."""
    async with PeerServer(good_acceptor, tls=server_tls_context(directory)) as server:
        probe = DicomProbe(probe_options(tls_ports=frozenset({server.port})))
        async with asyncio.timeout(BUDGET):
            return await probe.scan(Target(LOOPBACK, server.port))


@functools.cache
def findings_of_every_scenario() -> tuple[tuple[str, Finding], ...]:
    """One engine scan of every peer (the budget-bound ones included) and one TLS scan, made
    once per session and shared by the tests that check findings against the JSON schema."""

    async def scan_all() -> list[tuple[str, Finding]]:
        pairs = await scan_with_engine(SCENARIOS + BUDGET_SCENARIOS)
        with tempfile.TemporaryDirectory() as directory:
            tls = await scan_tls_acceptor(Path(directory))
        return [(s.name, f) for s, f in pairs] + [("tls", tls)]

    return tuple(asyncio.run(scan_all()))
