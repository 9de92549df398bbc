"""The DICOM (DIMSE) probe: who answers on a port, and how open the door is.

Per target: associate with a random called AE title; when refused, again with the well-known
default ``ANY-SCP``. On acceptance: C-ECHO on the Verification context, then a clean release.
A random title accepted means the server accepts *anyone* who reaches the port (PS3.8 lets the
acceptor check the called and the calling AE title; many never do).

The rejection reason is read, not just the fact of rejection: "called AE title not recognized"
(reason 7) and "calling AE title not recognized" (reason 3) mean different locks, and nmap's
scripts, which treat every rejection alike, miss the second.
"""

from __future__ import annotations

import random
import ssl
import time
from dataclasses import dataclass, field
from typing import ClassVar

from pydicom.uid import UID

from pacsaudit.engine.stream import Connection, DialOptions, open_connection, scanner_tls_context
from pacsaudit.engine.tlsinfo import describe_session
from pacsaudit.errors import PeerClosed, classify, printable_sample
from pacsaudit.model import (
    AePolicy,
    AssociationAttempt,
    AssociationOutcome,
    ContextOutcome,
    DicomResult,
    ErrorInfo,
    Finding,
    Status,
    TlsInfo,
    utc_timestamp,
)
from pacsaudit.probes.dicom import pdu, reasons
from pacsaudit.probes.dicom.connection import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    Event,
    Released,
    ReleaseRequested,
    RequestorConnection,
    Sentinel,
)
from pacsaudit.probes.dicom.dimse import CommandField, c_echo_rq
from pacsaudit.probes.dicom.errors import DicomProtocolError, NotDicomError
from pacsaudit.probes.dicom.fingerprint import identify
from pacsaudit.targets.spec import Target

IMPLEMENTATION_CLASS_UID = "2.25.158577293499648220484904446924696762975"
"""pacsaudit's own Implementation Class UID (a UUID-derived UID, PS3.5 B.2)."""
IMPLEMENTATION_VERSION_NAME = "PACSAUDIT_01"
DEFAULT_CALLING_AE = "PACSAUDIT"
DEFAULT_CALLED_AE = "ANY-SCP"
DICOM_PORTS = (104, 11112, 4242, 2761, 2762)
DICOM_TLS_PORTS = (2762,)
ADVERTISED_MAX_PDU = 64 * 1024

_IMPLICIT = "1.2.840.10008.1.2"
_EXPLICIT = "1.2.840.10008.1.2.1"
VERIFICATION_CONTEXT_ID = 1
PROPOSED_CONTEXTS: tuple[pdu.PresentationContextProposal, ...] = tuple(
    pdu.PresentationContextProposal(cid, uid, ts)
    for cid, uid, ts in (
        (1, "1.2.840.10008.1.1", (_IMPLICIT,)),  # Verification
        (3, "1.2.840.10008.5.1.4.1.2.1.1", (_EXPLICIT, _IMPLICIT)),  # Patient Root FIND
        (5, "1.2.840.10008.5.1.4.1.2.2.1", (_EXPLICIT, _IMPLICIT)),  # Study Root FIND
        (7, "1.2.840.10008.5.1.4.1.2.1.2", (_EXPLICIT, _IMPLICIT)),  # Patient Root MOVE
        (9, "1.2.840.10008.5.1.4.1.2.2.2", (_EXPLICIT, _IMPLICIT)),  # Study Root MOVE
        (11, "1.2.840.10008.5.1.4.1.2.1.3", (_EXPLICIT, _IMPLICIT)),  # Patient Root GET
        (13, "1.2.840.10008.5.1.4.1.2.2.3", (_EXPLICIT, _IMPLICIT)),  # Study Root GET
    )
)
_CONTEXT_KEYWORDS = {c.context_id: UID(c.abstract_syntax).keyword for c in PROPOSED_CONTEXTS}
_TS_KEYWORDS = {_IMPLICIT: "ImplicitVRLittleEndian", _EXPLICIT: "ExplicitVRLittleEndian"}


@dataclass(frozen=True, slots=True)
class DicomOptions:
    calling_ae: str = DEFAULT_CALLING_AE
    default_called_ae: str = DEFAULT_CALLED_AE
    tls_ports: frozenset[int] = frozenset(DICOM_TLS_PORTS)
    read_timeout: float = 5.0
    max_pdu_receive: int = 1 << 20
    dial: DialOptions = field(default_factory=DialOptions)

    def validate(self) -> None:
        pdu.encode_ae_title(self.calling_ae)
        pdu.encode_ae_title(self.default_called_ae)
        if self.read_timeout <= 0:
            raise ValueError("read timeout must be positive")


class _Broken(Exception):
    """An exchange ended early; carries the attempt recorded so far."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class _Attempt:
    called_ae: str
    outcome: AssociationOutcome = AssociationOutcome.FAILED
    accept: pdu.AssociateAccept | None = None
    reject: pdu.AssociateReject | None = None
    abort: pdu.Abort | None = None
    echo_status: int | None = None
    released: bool | None = None
    error: ErrorInfo | None = None
    tls: TlsInfo | None = None
    elapsed_ms: float = 0.0


class DicomProbe:
    name: ClassVar[str] = "dicom"
    description: ClassVar[str] = "DICOM Upper Layer: association, AE-title policy, C-ECHO, TLS"
    default_ports: ClassVar[tuple[int, ...]] = DICOM_PORTS

    def __init__(self, options: DicomOptions | None = None) -> None:
        self.options = options or DicomOptions()
        self.options.validate()
        self._request_template = pdu.AssociateRequest(
            called_ae=self.options.default_called_ae,
            calling_ae=self.options.calling_ae,
            contexts=PROPOSED_CONTEXTS,
            max_pdu_length=ADVERTISED_MAX_PDU,
            implementation_class_uid=IMPLEMENTATION_CLASS_UID,
            implementation_version_name=IMPLEMENTATION_VERSION_NAME,
        ).encode()
        self._tls_context: ssl.SSLContext | None = None
        self._random = random.Random()

    # -- public --------------------------------------------------------------------------

    async def scan(self, target: Target) -> Finding:
        started = time.perf_counter()
        tls = self._tls_for(target.port)
        random_ae = self._random_ae()
        try:
            first = await self._attempt(target, random_ae, tls)
        except NotDicomError as exc:
            return self._finding(
                target,
                started,
                Status.OPEN_NOT_DICOM,
                DicomResult(banner=printable_sample(exc.sample, 96)),
            )
        except _Broken as broken:
            classified = classify(broken.error)
            return self._finding(target, started, classified.status, None, classified.error)
        attempts = [first]
        if first.outcome is not AssociationOutcome.ACCEPTED:
            try:
                attempts.append(await self._attempt(target, self.options.default_called_ae, tls))
            except (_Broken, NotDicomError) as broken:
                err = broken.error if isinstance(broken, _Broken) else broken
                attempts.append(_Attempt(self.options.default_called_ae, error=classify(err).error))
        return self._finding(target, started, Status.DICOM, self._result(attempts))

    # -- one association -------------------------------------------------------------------

    async def _attempt(
        self, target: Target, called_ae: str, tls: ssl.SSLContext | None
    ) -> _Attempt:
        """One connection, one association. Raises _Broken when nothing DICOM was received."""
        begin = time.perf_counter()
        attempt = _Attempt(called_ae)
        try:
            conn = await open_connection(
                target.ip, target.port, self.options.dial, tls=tls, server_hostname=target.host
            )
        except Exception as exc:
            raise _Broken(exc) from None
        proto = RequestorConnection(max_pdu_receive=self.options.max_pdu_receive)
        got_pdu = False
        try:
            if tls is not None:
                attempt.tls = describe_session(conn.tls_session())
            conn.write(proto.request(pdu.with_ae_titles(self._request_template, called_ae)))
            event = await self._next_event(conn, proto)
            got_pdu = True
            if isinstance(event, AssociationAccepted):
                attempt.outcome = AssociationOutcome.ACCEPTED
                attempt.accept = event.accept
                await self._echo_and_release(conn, proto, attempt)
            elif isinstance(event, AssociationRejected):
                attempt.outcome = AssociationOutcome.REJECTED
                attempt.reject = event.reject
            elif isinstance(event, AssociationAborted):
                attempt.outcome = AssociationOutcome.ABORTED
                attempt.abort = event.abort
            else:
                raise DicomProtocolError("unexpected-event", "unexpected first answer")
        except NotDicomError:
            conn.abort()
            raise
        except Exception as exc:
            conn.abort()
            if not got_pdu:
                raise _Broken(exc) from None
            attempt.error = classify(exc).error
        else:
            conn.close()
        attempt.elapsed_ms = round((time.perf_counter() - begin) * 1000, 3)
        return attempt

    async def _echo_and_release(
        self, conn: Connection, proto: RequestorConnection, attempt: _Attempt
    ) -> None:
        if VERIFICATION_CONTEXT_ID in proto.accepted_contexts:
            conn.write(proto.send_dimse(VERIFICATION_CONTEXT_ID, c_echo_rq(1)))
            event = await self._next_event(conn, proto)
            if not isinstance(event, DimseMessage):
                raise self._unexpected(event, attempt)
            command = event.command
            if command.command_field != CommandField.C_ECHO_RSP:
                raise DicomProtocolError("unexpected-message", "answer to C-ECHO is not C-ECHO-RSP")
            if command.message_id_being_responded_to != 1:
                raise DicomProtocolError("wrong-message-id", "C-ECHO-RSP answers another message")
            attempt.echo_status = command.status
        conn.write(proto.release())
        event = await self._next_event(conn, proto)
        while isinstance(event, DimseMessage):  # late responses may precede the release reply
            event = await self._next_event(conn, proto)
        if isinstance(event, ReleaseRequested):  # release collision (PS3.8 7.2.2): answer it
            conn.write(proto.release_reply())
            attempt.released = True
            return
        if not isinstance(event, Released):
            raise self._unexpected(event, attempt)
        attempt.released = True

    def _unexpected(self, event: Event, attempt: _Attempt) -> Exception:
        if isinstance(event, AssociationAborted):
            attempt.abort = event.abort
            return DicomProtocolError("peer-aborted", "the peer aborted the association")
        if isinstance(event, ConnectionClosed):
            return PeerClosed("peer closed the connection")
        return DicomProtocolError("unexpected-event", f"unexpected {type(event).__name__}")

    async def _next_event(self, conn: Connection, proto: RequestorConnection) -> Event:
        timeout = self.options.read_timeout
        while True:
            event = proto.next_event()
            if not isinstance(event, Sentinel):
                if isinstance(event, ConnectionClosed) and not event.clean:
                    raise PeerClosed("peer closed the connection")
                return event
            proto.receive_data(await conn.read(timeout))

    # -- results ---------------------------------------------------------------------------

    def _result(self, attempts: list[_Attempt]) -> DicomResult:
        accepted = next((a for a in attempts if a.accept is not None), None)
        records = [self._record(a) for a in attempts]
        tls = next((a.tls for a in attempts if a.tls is not None), None)
        accept = accepted.accept if accepted else None
        ident = identify(
            accept.implementation_class_uid if accept else None,
            accept.implementation_version_name if accept else None,
        )
        return DicomResult(
            tls=tls,
            ae_policy=ae_policy(attempts[0], attempts[1] if len(attempts) > 1 else None),
            accepted_called_ae=accepted.called_ae if accepted else None,
            implementation_class_uid=accept.implementation_class_uid if accept else None,
            implementation_version_name=accept.implementation_version_name if accept else None,
            toolkit=ident.toolkit,
            toolkit_version=ident.version,
            accepted_contexts=[
                c.abstract_syntax for c in records[attempts.index(accepted)].contexts if c.accepted
            ]
            if accepted
            else [],
            echo_status=accepted.echo_status if accepted else None,
            attempts=records,
        )

    def _record(self, a: _Attempt) -> AssociationAttempt:
        contexts: list[ContextOutcome] = []
        if a.accept is not None:
            for c in a.accept.contexts:
                accepted = c.result == pdu.ContextResult.ACCEPTANCE
                ts = c.transfer_syntax if accepted else None
                contexts.append(
                    ContextOutcome(
                        abstract_syntax=_CONTEXT_KEYWORDS.get(
                            c.context_id, f"context-{c.context_id}"
                        ),
                        accepted=accepted,
                        result=reasons.context_result(c.result),
                        transfer_syntax=_TS_KEYWORDS.get(ts, ts) if ts else None,
                    )
                )
        return AssociationAttempt(
            called_ae=a.called_ae,
            calling_ae=self.options.calling_ae,
            outcome=a.outcome,
            reject=reasons.reject_info(a.reject.result, a.reject.source, a.reject.reason)
            if a.reject
            else None,
            abort=reasons.abort_info(a.abort.source, a.abort.reason) if a.abort else None,
            contexts=contexts,
            max_pdu_length=a.accept.max_pdu_length if a.accept else None,
            implementation_class_uid=a.accept.implementation_class_uid if a.accept else None,
            implementation_version_name=a.accept.implementation_version_name if a.accept else None,
            echo_status=a.echo_status,
            released=a.released,
            error=a.error,
            elapsed_ms=a.elapsed_ms,
        )

    def _finding(
        self,
        target: Target,
        started: float,
        status: Status,
        result: DicomResult | None,
        error: ErrorInfo | None = None,
    ) -> Finding:
        return Finding(
            ip=target.ip,
            port=target.port,
            protocol=self.name,
            status=status,
            timestamp=utc_timestamp(),
            result=result,
            error=error,
            host=target.host,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def _tls_for(self, port: int) -> ssl.SSLContext | None:
        if port not in self.options.tls_ports:
            return None
        if self._tls_context is None:
            self._tls_context = scanner_tls_context()
        return self._tls_context

    def _random_ae(self) -> str:
        """A title no administrator would configure: accepting it means accepting anyone."""
        return f"PA{self._random.getrandbits(48):012X}"


def ae_policy(first: _Attempt, second: _Attempt | None) -> AePolicy:
    """Derive the AE-title policy from the random-title attempt and the default-title one."""
    if first.outcome is AssociationOutcome.ACCEPTED:
        return AePolicy.ANY_CALLED_AE
    attempts = [first] + ([second] if second is not None else [])
    codes = [(a.reject.source, a.reject.reason) for a in attempts if a.reject is not None]
    if reasons.CALLING_AE_NOT_RECOGNIZED in codes:
        return AePolicy.CALLING_AE_ENFORCED
    if second is not None and second.outcome is AssociationOutcome.ACCEPTED:
        return AePolicy.CALLED_AE_KNOWN_DEFAULT
    if codes and all(c == reasons.CALLED_AE_NOT_RECOGNIZED for c in codes):
        return AePolicy.CALLED_AE_ENFORCED
    if codes and len(codes) == len(attempts):
        return AePolicy.REJECTS_ALL
    return AePolicy.UNKNOWN
