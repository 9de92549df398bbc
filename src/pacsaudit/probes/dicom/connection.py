"""Sans-IO association requestor: bytes in, events out, no sockets (after h11's design).

The driver feeds whatever the transport delivered to :meth:`RequestorConnection.receive_data`
and calls :meth:`next_event` until it returns :data:`NEED_DATA`; it sends the bytes that the
``request``/``send_dimse``/``release``/``abort`` methods return. All state checks live in
``_ALLOWED`` below, the requestor's slice of the PS3.8 state table: a PDU that is not allowed
in the current state is a protocol violation, never silently ignored.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Hashable, Mapping
from types import MappingProxyType

import msgspec

from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.dimse import MAX_COMMAND_SET_LENGTH, CommandSet, decode_command_set
from pacsaudit.probes.dicom.errors import DicomProtocolError, NotDicomError
from pacsaudit.probes.dicom.per_answer import PerAnswer

DEFAULT_MAX_PDU_RECEIVE = 1 << 20
"""Largest PDU we accept from a peer; we advertise a smaller maximum (see ``probe``)."""
DEFAULT_MAX_MESSAGE = 16 << 20
"""Largest reassembled DIMSE message (command + dataset) we keep in memory."""


class State(enum.Enum):
    IDLE = "Sta1"
    AWAITING_AC = "Sta5"
    ESTABLISHED = "Sta6"
    AWAITING_RELEASE_RP = "Sta7"
    CLOSED = "closed"


class Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = Sentinel("NEED_DATA")
"""No complete event is buffered; feed more bytes."""


class AssociationAccepted(msgspec.Struct, frozen=True, gc=False):
    accept: pdu.AssociateAccept


class AssociationRejected(msgspec.Struct, frozen=True, gc=False):
    reject: pdu.AssociateReject


class AssociationAborted(msgspec.Struct, frozen=True, gc=False):
    abort: pdu.Abort


class DimseMessage(msgspec.Struct, frozen=True, gc=False):
    context_id: int
    command: CommandSet
    dataset: bytes | None


class Released(msgspec.Struct, frozen=True, gc=False):
    pass


class ReleaseRequested(msgspec.Struct, frozen=True, gc=False):
    """The peer asked to release; answer with :meth:`RequestorConnection.release_reply`."""


class ConnectionClosed(msgspec.Struct, frozen=True, gc=False):
    """The transport reported EOF; ``clean`` when it came after a release or an abort."""

    clean: bool


Event = (
    AssociationAccepted
    | AssociationRejected
    | AssociationAborted
    | DimseMessage
    | Released
    | ReleaseRequested
    | ConnectionClosed
)

_ALLOWED: dict[State, frozenset[int]] = {
    State.IDLE: frozenset(),
    State.AWAITING_AC: frozenset(
        {pdu.PduType.ASSOCIATE_AC, pdu.PduType.ASSOCIATE_RJ, pdu.PduType.ABORT}
    ),
    State.ESTABLISHED: frozenset(
        {pdu.PduType.P_DATA_TF, pdu.PduType.RELEASE_RQ, pdu.PduType.ABORT}
    ),
    State.AWAITING_RELEASE_RP: frozenset(
        {pdu.PduType.P_DATA_TF, pdu.PduType.RELEASE_RP, pdu.PduType.RELEASE_RQ, pdu.PduType.ABORT}
    ),
    State.CLOSED: frozenset(),
}

_HEADER_LENGTH = pdu.PDU_HEADER_LENGTH
_ACCEPTANCE = int(pdu.ContextResult.ACCEPTANCE)
_WHOLE_COMMAND = 0x03
"""Message control header of a PDV holding a whole command set (command, last fragment)."""
_P_DATA_TF = int(pdu.PduType.P_DATA_TF)
_FIRST_PDU_TYPES = frozenset(
    {pdu.PduType.ASSOCIATE_AC, pdu.PduType.ASSOCIATE_RJ, pdu.PduType.ABORT}
)


class _Assembler:
    """Reassembles P-DATA-TF fragments into DIMSE messages, with a size cap."""

    __slots__ = (
        "_command",
        "_command_size",
        "_context_id",
        "_dataset",
        "_decoded",
        "_max",
        "_size",
    )

    def __init__(self, max_message: int) -> None:
        self._max = max_message
        self._reset()

    def _reset(self) -> None:
        self._context_id: int | None = None
        self._command: list[bytes] = []
        self._decoded: CommandSet | None = None
        self._dataset: list[bytes] = []
        self._size = 0
        self._command_size = 0

    def feed(self, context_id: int, control: int, data: bytes) -> DimseMessage | None:
        """One PDV: its presentation context, message control header and fragment."""
        if self._context_id is None:
            if control == _WHOLE_COMMAND and len(data) <= self._max:
                # A command in one PDV, the commonest answer of all (C-ECHO-RSP, a final
                # C-FIND-RSP): a message at once unless a dataset follows.
                command = decode_command_set(data)
                if not command.has_dataset:
                    return DimseMessage(context_id, command, None)
                # A pending C-FIND-RSP: its identifier follows; the command is read already.
                self._context_id = context_id
                self._size = self._command_size = len(data)
                self._decoded = command
                return None
            self._context_id = context_id
        elif context_id != self._context_id:
            raise DicomProtocolError(
                "interleaved-message", "PDV for another context before the message ended"
            )
        self._size += len(data)
        if self._size > self._max:
            raise DicomProtocolError(
                "oversized-message", f"DIMSE message exceeds the limit of {self._max} bytes"
            )
        if control & 0x01:  # a command fragment
            if self._decoded is not None:
                raise DicomProtocolError("invalid-pdv", "command fragment after the command ended")
            # Refuse an oversized command as soon as it is one, not once the message cap is hit.
            self._command_size += len(data)
            if self._command_size > MAX_COMMAND_SET_LENGTH:
                raise DicomProtocolError("oversized-command", "command set larger than 64 KiB")
            self._command.append(data)
            if not control & 0x02:
                return None
            self._decoded = decode_command_set(b"".join(self._command))
            if self._decoded.has_dataset:
                return None
            return self._finish(None)
        if self._decoded is None:
            raise DicomProtocolError("invalid-pdv", "dataset fragment before its command")
        self._dataset.append(data)
        if not control & 0x02:
            return None
        return self._finish(b"".join(self._dataset))

    def _finish(self, dataset: bytes | None) -> DimseMessage:
        assert self._decoded is not None
        assert self._context_id is not None
        msg = DimseMessage(self._context_id, self._decoded, dataset)
        self._reset()
        return msg


class RequestorConnection:
    """The association requestor's side of one TCP connection."""

    def __init__(
        self,
        *,
        max_pdu_receive: int = DEFAULT_MAX_PDU_RECEIVE,
        max_message: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self._state = State.IDLE
        self._allowed = _ALLOWED[State.IDLE]
        self._buffer = bytearray()
        self._eof = False
        self._max_pdu = max_pdu_receive
        self._received_any_pdu = False
        self._assembler = _Assembler(max_message)
        self._pending: list[Event] = []
        self._error: DicomProtocolError | None = None
        self.peer_max_pdu: int = 0
        """The peer's maximum PDU length (0 = unlimited), once the association is accepted."""
        self.accepted_contexts: Mapping[int, str | None] = {}
        """Accepted presentation context id → its transfer syntax (read-only: shared by the
        connections that received the same answer)."""

    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        # The PDUs the new state allows, looked up once here, not per PDU (an Enum hashes in
        # Python).
        self._state = state
        self._allowed = _ALLOWED[state]

    # -- sending ---------------------------------------------------------------------------

    def request(self, associate_rq: bytes) -> bytes:
        """Start the association with an encoded A-ASSOCIATE-RQ (see :mod:`.pdu`)."""
        self._expect_state(State.IDLE, "send A-ASSOCIATE-RQ")
        self.state = State.AWAITING_AC
        return associate_rq

    def send_dimse(self, context_id: int, command: bytes, dataset: bytes | None = None) -> bytes:
        """Encode a DIMSE message as P-DATA-TF PDUs within the peer's maximum PDU length."""
        self._expect_state(State.ESTABLISHED, "send P-DATA-TF")
        if context_id not in self.accepted_contexts:
            raise ValueError(f"presentation context {context_id} was not accepted")
        # A PDV item costs 6 bytes in the PDU body (length, context id, control header).
        room = (self.peer_max_pdu - 6) if self.peer_max_pdu else 1 << 20
        room = max(room, 1)
        if dataset is None and len(command) <= room:  # C-ECHO, C-CANCEL: one PDU, one PDV
            return pdu.encode_single_pdv(context_id, 0x03, command)
        if dataset is not None and len(command) <= room and len(dataset) <= room:
            return _two_pdus(context_id, command, dataset)  # a query: command, then identifier
        out: list[bytes] = []
        for is_command, payload in ((True, command), (False, dataset)):
            if payload is None:
                continue
            chunks = [payload[i : i + room] for i in range(0, len(payload), room)] or [b""]
            for n, chunk in enumerate(chunks):
                mch = (0x01 if is_command else 0x00) | (0x02 if n == len(chunks) - 1 else 0x00)
                out.append(pdu.encode_p_data([(context_id, mch, chunk)]))
        return b"".join(out)

    def release(self) -> bytes:
        self._expect_state(State.ESTABLISHED, "send A-RELEASE-RQ")
        self.state = State.AWAITING_RELEASE_RP
        return pdu.RELEASE_RQ

    def release_reply(self) -> bytes:
        """Answer a peer's A-RELEASE-RQ.

        When the peer asked while we were releasing too (a release collision, PS3.8 7.2.2),
        the requestor answers first and the peer's A-RELEASE-RP is still due (Sta9 → Sta11):
        the state stays :attr:`State.AWAITING_RELEASE_RP`. Otherwise the association is over.
        """
        if self.state not in (State.ESTABLISHED, State.AWAITING_RELEASE_RP):
            raise RuntimeError(f"cannot send A-RELEASE-RP in state {self.state.value}")
        if self.state is State.ESTABLISHED:
            self.state = State.CLOSED
        return pdu.RELEASE_RP

    def abort(self) -> bytes:
        self.state = State.CLOSED
        return pdu.encode_abort()

    # -- receiving -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the transport; ``b""`` means the peer closed the connection."""
        if not data:
            self._eof = True
            return
        self._buffer += data

    def next_event(self) -> Event | Sentinel:
        """The next event, :data:`NEED_DATA`, or :class:`DicomProtocolError`.

        After a protocol error the connection is dead: every later call raises the same error
        (as h11 does), so a driver that swallowed it cannot read on past the broken PDU.
        """
        if self._error is not None:
            raise self._error
        if not self._buffer and not self._pending and not self._eof:
            return NEED_DATA  # the driver asks before every read: answered without a call
        try:
            return self._next_event()
        except DicomProtocolError as exc:
            self._error = exc
            raise

    def _next_event(self) -> Event | Sentinel:
        if self._pending:
            return self._pending.pop(0)
        buffer = self._buffer
        while True:
            if not buffer and not self._eof:
                return NEED_DATA  # the driver asks before every read: answer it cheaply
            if not self._received_any_pdu:
                self._check_first_bytes()
            header = pdu.parse_header(buffer, self._max_pdu)
            if header is None or len(buffer) < _HEADER_LENGTH + header[1]:
                if self._eof:
                    clean = self._state is State.CLOSED and not buffer
                    return ConnectionClosed(clean=clean)
                return NEED_DATA
            pdu_type, length = header
            end = _HEADER_LENGTH + length
            body = bytes(buffer[_HEADER_LENGTH:end])
            del buffer[:end]
            if pdu_type not in self._allowed:
                raise DicomProtocolError(
                    "unexpected-pdu",
                    f"{pdu.PduType(pdu_type).name} not allowed in state {self.state.value}",
                )
            self._received_any_pdu = True
            if pdu_type == _P_DATA_TF:  # the commonest, by far, once queries run
                self._on_p_data(body)
            else:
                event = self._on_pdu(pdu.parse_body(pdu_type, body))
                if event is not None:
                    return event
            if self._pending:
                return self._pending.pop(0)

    def _check_first_bytes(self) -> None:
        """Tell "not DICOM at all" apart from "DICOM, but broken" on the first PDU."""
        buf = self._buffer
        if not buf:
            return
        looks_dicom = buf[0] in _FIRST_PDU_TYPES and (len(buf) < 2 or buf[1] == 0)
        if looks_dicom and buf[0] != pdu.PduType.ASSOCIATE_AC and len(buf) >= 6:
            # A-ASSOCIATE-RJ and A-ABORT have a fixed length of 4.
            looks_dicom = buf[2:6] == b"\x00\x00\x00\x04"
        if not looks_dicom:
            raise NotDicomError(bytes(buf[:256]))

    def _on_p_data(self, body: bytes) -> None:
        """A P-DATA-TF's PDVs into the assembler, straight from the body (no PDU objects)."""
        accepted = self.accepted_contexts
        feed = self._assembler.feed
        for context_id, control, data in pdu.split_pdvs(body):
            if context_id not in accepted:
                raise DicomProtocolError(
                    "unknown-context", f"PDV on presentation context {context_id} not accepted"
                )
            message = feed(context_id, control, data)
            if message is not None:
                self._pending.append(message)

    def _on_pdu(self, item: pdu.Pdu) -> Event | None:
        if isinstance(item, pdu.AssociateAccept):
            self.state = State.ESTABLISHED
            self.peer_max_pdu = item.max_pdu_length or 0
            self.accepted_contexts = _accepted(item)
            return AssociationAccepted(item)
        if isinstance(item, pdu.AssociateReject):
            self.state = State.CLOSED
            return AssociationRejected(item)
        if isinstance(item, pdu.Abort):
            self.state = State.CLOSED
            return AssociationAborted(item)
        if isinstance(item, pdu.ReleaseReply):
            self.state = State.CLOSED
            return Released()
        assert isinstance(item, pdu.ReleaseRequest)
        return ReleaseRequested()

    def _expect_state(self, state: State, action: str) -> None:
        if self._state is not state:
            raise RuntimeError(f"cannot {action} in state {self._state.value}")


@PerAnswer
def _accepted(accept: pdu.AssociateAccept, _extra: Hashable) -> Mapping[int, str | None]:
    """The accepted contexts of an AC, worked out once per kind of server."""
    return MappingProxyType(
        {c.context_id: c.transfer_syntax for c in accept.contexts if c.result == _ACCEPTANCE}
    )


@functools.lru_cache(maxsize=256)
def _two_pdus(context_id: int, command: bytes, dataset: bytes) -> bytes:
    """A message whose command and data set each fit one PDV: two P-DATA-TF PDUs, as the
    general path cuts them. Kept per message: the survey's C-FIND requests (command and
    identifier are the same objects for every host) are written once per context."""
    return pdu.encode_single_pdv(context_id, 0x03, command) + pdu.encode_single_pdv(
        context_id, 0x02, dataset
    )
