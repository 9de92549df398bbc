"""An accepted association driven over one connection: the sans-IO core plus its transport.

The only place where :class:`~.connection.RequestorConnection` meets a socket. Probes and
queries call ``send``/``next_message``/``release`` and never see PDUs; every wait is bounded by
the read timeout *and* by the session's deadline, so that a server streaming pending responses
forever cannot hold a worker past the host budget.
"""

from __future__ import annotations

import time

from pacsaudit.errors import BudgetSpent, PeerClosed
from pacsaudit.net.stream import Connection
from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.connection import (
    NEED_DATA,
    AssociationAborted,
    ConnectionClosed,
    DimseMessage,
    Event,
    Released,
    ReleaseRequested,
    RequestorConnection,
)
from pacsaudit.probes.dicom.errors import DicomProtocolError


class PeerAborted(DicomProtocolError):
    def __init__(self, abort: pdu.Abort) -> None:
        super().__init__("peer-aborted", "the peer aborted the association")
        self.abort = abort


class Session:
    def __init__(
        self,
        conn: Connection,
        proto: RequestorConnection,
        *,
        read_timeout: float,
        deadline: float,
    ) -> None:
        self.conn = conn
        self.proto = proto
        self.read_timeout = read_timeout
        self.deadline = deadline
        """``time.monotonic()`` value after which no wait may start."""
        self._message_id = 0

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    async def next_event(self, wait: float | None = None) -> Event:
        """The next event, each read within ``wait`` (default: the read timeout); past the
        session deadline every call fails, so a peer streaming answers without end cannot
        hold the probe."""
        per_read = self.read_timeout if wait is None else wait
        proto = self.proto
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise BudgetSpent("the probe's time budget for this target is spent")
            event = proto.next_event()
            if event is NEED_DATA:
                proto.receive_data(await self.conn.read(min(per_read, left)))
                continue
            if type(event) is ConnectionClosed and not event.clean:
                raise PeerClosed("peer closed the connection")
            return event  # type: ignore[return-value]

    def send(self, context_id: int, command: bytes, dataset: bytes | None = None) -> None:
        self.conn.write(self.proto.send_dimse(context_id, command, dataset))

    async def next_message(self) -> DimseMessage:
        event = await self.next_event()
        if isinstance(event, DimseMessage):
            return event
        if isinstance(event, AssociationAborted):
            raise PeerAborted(event.abort)
        if isinstance(event, ReleaseRequested):
            raise DicomProtocolError("peer-released", "the peer asked to release mid-operation")
        raise DicomProtocolError(
            "unexpected-event", f"expected a DIMSE message, got {type(event).__name__}"
        )

    async def release(self) -> bool:
        """Release the association; True when the peer answered with A-RELEASE-RP."""
        self.conn.write(self.proto.release())
        event = await self.next_event()
        # Responses still in flight (after a C-CANCEL, say) may precede the reply.
        for _ in range(1000):
            if not isinstance(event, DimseMessage):
                break
            event = await self.next_event()
        if isinstance(event, ReleaseRequested):  # release collision (PS3.8 7.2.2)
            self.conn.write(self.proto.release_reply())
            event = await self.next_event()  # the peer's reply to our A-RELEASE-RQ
        if isinstance(event, AssociationAborted):
            raise PeerAborted(event.abort)
        if not isinstance(event, Released):
            raise DicomProtocolError("unexpected-event", "no A-RELEASE-RP to our release")
        return True
