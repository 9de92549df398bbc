"""Minimal DICOM responders on many loopback addresses, for the sweep benchmark.

One asyncio process listens on N distinct addresses 127.a.b.c, all on one port, and plays just
enough of an association acceptor (PS3.8) to let a scanner do association, C-ECHO and release:

- A-ASSOCIATE-RQ → A-ASSOCIATE-AC, AE titles echoed, any called AE title accepted. Like a small
  PACS it supports Verification and Query/Retrieve (FIND, MOVE, GET; Patient and Study Root):
  those contexts are accepted (Implicit VR Little Endian when proposed, else the first transfer
  syntax), every other abstract syntax is refused with reason 3 (abstract syntax not
  supported), as a real SCP does;
- P-DATA-TF carrying a C-ECHO-RQ → C-ECHO-RSP, status 0 (Success);
- C-FIND-RQ → one final C-FIND-RSP, status 0 (Success): an empty archive, no matches;
- C-MOVE-RQ / C-GET-RQ → a final response refusing it (0xA801, Move Destination unknown /
  0xA702, out of resources), so a scanner's retrieval test ends at once; C-CANCEL is ignored;
- A-RELEASE-RQ → A-RELEASE-RP, then the connection is closed;
- A-ABORT, anything unexpected or malformed → the connection is closed.

Run it as its own process so that the scanner and the responders do not share a core. It prints
``READY <count> <port>`` on stdout once every socket listens, and stops by itself: when its
standard input reaches EOF (the benchmark that started it ended), on SIGTERM/SIGINT, or after
``--lifetime`` seconds, whichever comes first.

Only loopback addresses are accepted. Linux routes all of 127.0.0.0/8 to ``lo``, so binding
127.x.y.z works without adding addresses; each listening socket costs a file descriptor, so the
soft open-file limit is raised to the hard one.

Usage (standard input must stay open: a pipe from ``sleep`` bounds the lifetime by hand)::

    sleep 300 | python bench/responders.py --first 127.10.0.1 --count 4096 --port 11113
    sleep 300 | python bench/responders.py --addresses-file hosts.txt --port 11113
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import resource
import signal
import socket
import struct
import sys
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import cast

from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.dimse import (
    NO_DATASET,
    CommandField,
    CommandSet,
    Tag,
    c_echo_rsp,
    decode_command_set,
    encode_command_set,
)
from pacsaudit.probes.dicom.errors import DicomProtocolError

IMPLEMENTATION_CLASS_UID = "2.25.250437183386958066305398306232403530409"
"""A UUID-derived UID (PS3.5 B.2) naming this benchmark responder."""
IMPLEMENTATION_VERSION_NAME = "PA_BENCH_RESP"
MAX_PDU = 64 * 1024
MAX_BUFFERED = 256 * 1024
"""A peer that sends more than this without completing a PDU is cut off."""
BACKLOG = 256
IMPLICIT_VR_LE = b"1.2.840.10008.1.2"
SUPPORTED_SOP_CLASSES = frozenset(
    {
        b"1.2.840.10008.1.1",  # Verification
        b"1.2.840.10008.5.1.4.1.2.1.1",  # Patient Root Query/Retrieve - FIND
        b"1.2.840.10008.5.1.4.1.2.1.2",  # Patient Root Query/Retrieve - MOVE
        b"1.2.840.10008.5.1.4.1.2.1.3",  # Patient Root Query/Retrieve - GET
        b"1.2.840.10008.5.1.4.1.2.2.1",  # Study Root Query/Retrieve - FIND
        b"1.2.840.10008.5.1.4.1.2.2.2",  # Study Root Query/Retrieve - MOVE
        b"1.2.840.10008.5.1.4.1.2.2.3",  # Study Root Query/Retrieve - GET
    }
)

_HEADER = struct.Struct(">BBL")
_ITEM = struct.Struct(">BBH")


def item(item_type: int, payload: bytes) -> bytes:
    return _ITEM.pack(item_type, 0, len(payload)) + payload


def iter_items(body: bytes, start: int) -> Iterator[tuple[int, bytes]]:
    pos = start
    end = len(body)
    while pos + 4 <= end:
        item_type, _, length = _ITEM.unpack_from(body, pos)
        pos += 4
        if pos + length > end:
            raise DicomProtocolError("truncated-item", "item overruns its PDU")
        yield item_type, body[pos : pos + length]
        pos += length
    if pos != end:
        raise DicomProtocolError("truncated-item", "trailing bytes after the last item")


@lru_cache(maxsize=64)
def accept_items(request_items: bytes) -> bytes:
    """The variable items of an A-ASSOCIATE-AC answering the items of an A-ASSOCIATE-RQ.

    Cached on the request's item bytes: a scanner sends the same proposal to every host.
    """
    out = [item(pdu.ItemType.APPLICATION_CONTEXT, pdu.DICOM_APPLICATION_CONTEXT.encode())]
    for item_type, payload in iter_items(request_items, 0):
        if item_type != pdu.ItemType.PRESENTATION_CONTEXT_RQ:
            continue
        if len(payload) < 4:
            raise DicomProtocolError("truncated-item", "presentation context item too short")
        sub_items = list(iter_items(payload, 4))
        abstract = next((s for t, s in sub_items if t == pdu.ItemType.ABSTRACT_SYNTAX), b"")
        syntaxes = [s for t, s in sub_items if t == pdu.ItemType.TRANSFER_SYNTAX]
        chosen = IMPLICIT_VR_LE if IMPLICIT_VR_LE in syntaxes or not syntaxes else syntaxes[0]
        if abstract.rstrip(b"\0") not in SUPPORTED_SOP_CLASSES:
            result = pdu.ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED
        elif not syntaxes:
            result = pdu.ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED
        else:
            result = pdu.ContextResult.ACCEPTANCE
        sub = item(pdu.ItemType.TRANSFER_SYNTAX, chosen)
        out.append(
            item(pdu.ItemType.PRESENTATION_CONTEXT_AC, bytes((payload[0], 0, result, 0)) + sub)
        )
    user = (
        item(pdu.ItemType.MAXIMUM_LENGTH, struct.pack(">L", MAX_PDU))
        + item(pdu.ItemType.IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_CLASS_UID.encode())
        + item(pdu.ItemType.IMPLEMENTATION_VERSION_NAME, IMPLEMENTATION_VERSION_NAME.encode())
    )
    out.append(item(pdu.ItemType.USER_INFORMATION, user))
    return b"".join(out)


def associate_ac(rq_body: bytes) -> bytes:
    """A-ASSOCIATE-AC for an A-ASSOCIATE-RQ body (the PDU without its 6-byte header)."""
    if len(rq_body) < 68:
        raise DicomProtocolError("truncated-pdu", "A-ASSOCIATE-RQ shorter than its fixed part")
    # Protocol version, reserved, called and calling AE titles (echoed), 32 reserved bytes.
    body = b"\x00\x01\x00\x00" + rq_body[4:36] + bytes(32) + accept_items(rq_body[68:])
    return _HEADER.pack(pdu.PduType.ASSOCIATE_AC, 0, len(body)) + body


REFUSALS = {
    CommandField.C_MOVE_RQ: 0xA801,  # Refused: Move Destination unknown
    CommandField.C_GET_RQ: 0xA702,  # Refused: Out of resources
}


@lru_cache(maxsize=1024)
def echo_response(context_id: int, message_id: int) -> bytes:
    return pdu.encode_p_data([(context_id, 0x03, c_echo_rsp(message_id))])


def response(context_id: int, command: CommandSet) -> bytes | None:
    """The final response to one request, as a P-DATA-TF; None when none is due."""
    field = command.command_field
    message_id = command.elements.get(Tag.MESSAGE_ID)
    if not isinstance(message_id, int) or field is None:
        return None  # C-CANCEL-RQ and responses carry no Message ID: nothing to answer
    if field == CommandField.C_ECHO_RQ:
        return echo_response(context_id, message_id)
    if field not in (CommandField.C_FIND_RQ, *REFUSALS):
        return None
    sop_class = command.elements.get(Tag.AFFECTED_SOP_CLASS_UID)
    return final_response(
        context_id, field, message_id, sop_class if isinstance(sop_class, str) else None
    )


@lru_cache(maxsize=1024)
def final_response(context_id: int, field: int, message_id: int, sop_class: str | None) -> bytes:
    """A final C-FIND/C-MOVE/C-GET response, written once per request kind like the C-ECHO
    answer: a scanner asks every host the same, and the responders' CPU shares the scanner's
    cores in the benchmark (it stands for remote servers, whose CPU is not the scanner's)."""
    elements: dict[int, int | str | bytes] = {
        Tag.COMMAND_FIELD: field | 0x8000,
        Tag.MESSAGE_ID_BEING_RESPONDED_TO: message_id,
        Tag.COMMAND_DATA_SET_TYPE: NO_DATASET,
        Tag.STATUS: REFUSALS.get(field, 0x0000),
    }
    if sop_class is not None:
        elements[Tag.AFFECTED_SOP_CLASS_UID] = sop_class
    return pdu.encode_p_data([(context_id, 0x03, encode_command_set(elements))])


class Responder(asyncio.Protocol):
    """One accepted connection: buffers bytes, answers each complete PDU."""

    __slots__ = ("_buffer", "_command", "_transport", "_waiting")

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._command: list[bytes] = []
        self._waiting: tuple[int, CommandSet] | None = None
        """A request whose dataset is still arriving; it is answered once the dataset ends."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        buf = self._buffer + data if self._buffer else data
        pos = 0
        end = len(buf)
        try:
            while end - pos >= 6:
                pdu_type, _, length = _HEADER.unpack_from(buf, pos)
                if length > MAX_PDU:
                    raise DicomProtocolError("oversized-pdu", "PDU too long")
                if end - pos - 6 < length:
                    break
                body = buf[pos + 6 : pos + 6 + length]
                pos += 6 + length
                if not self._on_pdu(pdu_type, body):
                    return
        except DicomProtocolError:
            self._abort()
            return
        self._buffer = buf[pos:]
        if len(self._buffer) > MAX_BUFFERED:
            self._abort()

    def _on_pdu(self, pdu_type: int, body: bytes) -> bool:
        """Answer one PDU; False when the connection is finished."""
        transport = self._transport
        if transport is None:
            return False
        if pdu_type == pdu.PduType.ASSOCIATE_RQ:
            transport.write(associate_ac(body))
            return True
        if pdu_type == pdu.PduType.P_DATA_TF:
            self._on_p_data(body)
            return True
        if pdu_type == pdu.PduType.RELEASE_RQ:
            transport.write(pdu.RELEASE_RP)
            transport.close()
            return False
        self._abort()  # A-ABORT, or a PDU an acceptor never receives
        return False

    def _on_p_data(self, body: bytes) -> None:
        pos = 0
        while pos + 6 <= len(body):
            (length,) = struct.unpack_from(">L", body, pos)
            if length < 2 or pos + 4 + length > len(body):
                raise DicomProtocolError("truncated-item", "PDV overruns its P-DATA-TF")
            context_id = body[pos + 4]
            control = body[pos + 5]
            fragment = body[pos + 6 : pos + 4 + length]
            pos += 4 + length
            if not control & 0x01:  # a dataset fragment: only its end matters here
                if control & 0x02 and self._waiting is not None:
                    self._answer(*self._waiting)
                    self._waiting = None
                continue
            self._command.append(fragment)
            if not control & 0x02:
                continue
            command = decode_command_set(b"".join(self._command))
            self._command.clear()
            if command.has_dataset:
                self._waiting = (context_id, command)
            else:
                self._answer(context_id, command)

    def _answer(self, context_id: int, command: CommandSet) -> None:
        answer = response(context_id, command)
        if answer is not None and self._transport is not None:
            self._transport.write(answer)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None


def parse_addresses(first: str | None, count: int, path: Path | None) -> list[str]:
    if path is not None:
        lines = path.read_text(encoding="ascii").split()
        addresses = [line.strip() for line in lines if line.strip()]
    elif first is not None:
        start = int(ipaddress.IPv4Address(first))
        addresses = [str(ipaddress.IPv4Address(start + n)) for n in range(count)]
    else:
        raise SystemExit("give --first and --count, or --addresses-file")
    for text in addresses:
        if not ipaddress.IPv4Address(text).is_loopback:
            raise SystemExit(f"refusing to listen on {text}: not a loopback address")
    return addresses


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if needed > soft:
        raise SystemExit(f"{needed} descriptors needed, the open-file limit is {soft}")


def listening_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(addresses: list[str], port: int, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def finish(reason: str) -> None:
        if not stop.done():
            stop.set_result(reason)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish, sig.name)
    stdin_fd = sys.stdin.fileno()

    def on_stdin() -> None:
        if not os.read(stdin_fd, 4096):
            loop.remove_reader(stdin_fd)
            finish("stdin closed")

    loop.add_reader(stdin_fd, on_stdin)
    deadline = loop.call_later(lifetime, finish, "lifetime over")
    servers: list[asyncio.AbstractServer] = []
    try:
        for address in addresses:
            try:
                sock = listening_socket(address, port)
            except OSError as exc:
                raise SystemExit(f"cannot listen on {address}:{port}: {exc.strerror}") from None
            servers.append(await loop.create_server(Responder, sock=sock, backlog=BACKLOG))
        print(f"READY {len(servers)} {port}", flush=True)
        reason = await stop
        print(f"stopping: {reason}", file=sys.stderr, flush=True)
    finally:
        deadline.cancel()
        for server in servers:
            server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--first", help="first address of a consecutive block, e.g. 127.10.0.1")
    parser.add_argument("--count", type=int, default=4096)
    parser.add_argument("--addresses-file", type=Path, help="one loopback address per line")
    parser.add_argument("--port", type=int, default=11113)
    parser.add_argument("--lifetime", type=float, default=1800.0, help="seconds before exiting")
    args = parser.parse_args(argv)
    addresses = parse_addresses(args.first, args.count, args.addresses_file)
    raise_fd_limit(len(addresses) + 1024)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(addresses, args.port, args.lifetime))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(addresses, args.port, args.lifetime))


if __name__ == "__main__":
    main()
