"""The DICOM (DIMSE) probe: who answers on a port, and how open the door is.

Per target: associate with a random called AE title; when refused, again with the well-known
default ``ANY-SCP``. On acceptance: C-ECHO on the Verification context, at exposure depth the
Q/R survey and the worklist count, then a clean release. A random title accepted means the
server accepts *anyone* who reaches the port (PS3.8 lets the acceptor check the called and the
calling AE title; many never do). The same association proposes the common Storage SOP classes
(:mod:`.proposal`): its answer says which the server would take, and the storage check
(:mod:`.acceptance`) asks on associations of its own only what that answer left open — storing
nothing, ever.

The rejection reason is read, not just the fact of rejection: "called AE title not recognized"
(reason 7) and "calling AE title not recognized" (reason 3) mean different locks, and nmap's
scripts, which treat every rejection alike, miss the second.
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import time
from collections.abc import Hashable
from typing import ClassVar, NamedTuple

import msgspec

from pacsaudit.contract import make_finding
from pacsaudit.errors import classify, printable_sample
from pacsaudit.intel.identify import identify_toolkit
from pacsaudit.model import (
    AssociationAttempt,
    AssociationOutcome,
    ContextOutcome,
    DicomResult,
    ErrorInfo,
    Finding,
    Status,
    StorageCheck,
    TlsInfo,
    WorklistExposure,
)
from pacsaudit.net.stream import open_connection, scanner_tls_context
from pacsaudit.probes.dicom import DICOM, DICOM_TLS, pdu, reasons, uids
from pacsaudit.probes.dicom.acceptance import Refused, Shared, check_storage
from pacsaudit.probes.dicom.attempt import (
    Attempt,
    Broken,
    Prior,
    accepted,
    ae_policy,
    calling_refused,
)
from pacsaudit.probes.dicom.connection import (
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    RequestorConnection,
)
from pacsaudit.probes.dicom.dimse import CommandField, c_echo_rq
from pacsaudit.probes.dicom.errors import DicomProtocolError, NotDicomError
from pacsaudit.probes.dicom.oneshot import Dial, associate_once
from pacsaudit.probes.dicom.options import Depth, DicomOptions
from pacsaudit.probes.dicom.per_answer import PerAnswer
from pacsaudit.probes.dicom.proposal import (
    CONTEXT_KEYWORDS,
    CONTEXT_UIDS,
    STORAGE_FIRST_ID,
    STORAGE_IDS,
    UNKNOWN_SOP_CLASS_CONTEXT_ID,
    UNKNOWN_SOP_CLASS_KEYWORD,
    VERIFICATION_CONTEXT_ID,
    WORKLIST_ALONE,
    Shape,
    dropped,
    main_request,
    maybe_too_large,
    request,
)
from pacsaudit.probes.dicom.session import PeerAborted, Session
from pacsaudit.targets.spec import Target

_NOT_QUERIED = WorklistExposure(unknown_reason="not-queried")
"""The worklist of an association that broke before its turn: asked again on its own."""
_RELEASE_MARGIN = 0.5
"""Seconds of the budget kept back so that a probe ends on its own, before the engine's cut."""
_TS_KEYWORDS = {
    ts: uids.KEYWORDS[ts] for ts in (uids.IMPLICIT_VR_LITTLE_ENDIAN, uids.EXPLICIT_VR_LITTLE_ENDIAN)
}
_ACCEPTANCE = int(pdu.ContextResult.ACCEPTANCE)


class DicomProbe:
    name: ClassVar[str] = DICOM.key
    description: ClassVar[str] = DICOM.description
    default_ports: ClassVar[tuple[int, ...]] = DICOM.ports

    def __init__(self, options: DicomOptions | None = None, *, dial: Dial | None = None) -> None:
        self.options = options or DicomOptions()
        self.options.validate()
        self._dial: Dial = dial or open_connection
        """How an attempt connects: the real dialer, or an in-memory peer in the tests (as
        the share walk takes its backend)."""
        self._tls_context: ssl.SSLContext | None = None
        self._random = random.Random()

    # -- public --------------------------------------------------------------------------

    async def scan(self, target: Target) -> Finding:
        started = time.perf_counter()
        deadline = time.monotonic() + self.options.budget - _RELEASE_MARGIN
        tls = self._tls_for(target.port)
        random_ae = self._random_ae()
        shape = Shape(with_storage=self.options.check_storage)
        try:
            first = await self._shaped(target, shape, random_ae, tls, deadline)
        except NotDicomError as exc:
            return self._finding(
                target,
                started,
                Status.OPEN_NOT_DICOM,
                DicomResult(banner=printable_sample(exc.sample, 96)),
            )
        except Broken as broken:
            classified = classify(broken.error)
            return self._finding(
                target, started, classified.status, _tls_only(broken), classified.error
            )
        attempts = [first]
        if first.outcome is not AssociationOutcome.ACCEPTED:
            try:
                attempts.append(
                    await self._shaped(target, shape, self.options.default_called_ae, tls, deadline)
                )
            except (Broken, NotDicomError) as broken:
                err = broken.error if isinstance(broken, Broken) else broken
                attempts.append(
                    Attempt(
                        self.options.default_called_ae,
                        self.options.calling_ae,
                        error=classify(err).error,
                    )
                )
            if self.options.guess.enabled and not accepted(attempts):
                await self._guess(target, shape, tls, deadline, attempts)
        return await self._conclude(target, started, tls, deadline, attempts, shape)

    async def scan_revealed(
        self, target: Target, called_ae: str, source: str, earlier: DicomResult
    ) -> Finding:
        """The second pass (:mod:`pacsaudit.followup`): one association under the called AE
        title another service of this host revealed (``source`` says which), where the
        ``earlier`` finding's titles were all refused. The finding carries the earlier
        attempts too: it replaces the earlier record of this ip/port in the reports."""
        started = time.perf_counter()
        deadline = time.monotonic() + self.options.budget - _RELEASE_MARGIN
        tls = self._tls_for(target.port)
        shape = Shape(with_storage=self.options.check_storage)
        try:
            attempt = await self._shaped(target, shape, called_ae, tls, deadline)
        except (Broken, NotDicomError) as broken:
            err = broken.error if isinstance(broken, Broken) else broken
            attempt = Attempt(called_ae, self.options.calling_ae, error=classify(err).error)
        prior = Prior(earlier, source)
        return await self._conclude(target, started, tls, deadline, [attempt], shape, prior)

    async def _conclude(
        self,
        target: Target,
        started: float,
        tls: ssl.SSLContext | None,
        deadline: float,
        attempts: list[Attempt],
        shape: Shape,
        prior: Prior | None = None,
    ) -> Finding:
        """Under the titles let in: the worklist on its own where the main association broke
        before it, the storage check; then the finding."""
        storage = None
        pair = next((a for a in attempts if a.accept is not None), None)
        if pair is not None and pair.worklist is not None and pair.worklist == _NOT_QUERIED:
            pair.worklist = await self._worklist_alone(target, tls, deadline, pair)
        if pair is not None and self.options.check_storage:
            storage = await self._check_storage(target, tls, deadline, pair, shape)
        result = self._result(attempts, storage)
        if prior is not None:
            result = prior.merge(result)
        return self._finding(target, started, Status.DICOM, result)

    async def _guess(
        self,
        target: Target,
        shape: Shape,
        tls: ssl.SSLContext | None,
        deadline: float,
        attempts: list[Attempt],
    ) -> None:
        """Try common called AE titles, then — behind a calling-AE whitelist — calling ones.

        A called title answered with "calling AE title not recognized" (reason 3) exists: the
        server only refuses *us*. nmap's dicom-brute treats that answer like any rejection.
        """
        guess = self.options.guess
        tried = {a.called_ae for a in attempts}
        found_called = next((a.called_ae for a in attempts if calling_refused(a)), None)

        async def one(called: str, calling: str) -> Attempt | None:
            if time.monotonic() > deadline - self.options.read_timeout:
                return None
            await asyncio.sleep(guess.interval)
            try:
                a = await self._shaped(target, shape, called, tls, deadline, calling)
            except (Broken, NotDicomError) as exc:
                err = exc.error if isinstance(exc, Broken) else exc
                a = Attempt(called, calling, error=classify(err).error)
            attempts.append(a)
            return a

        if found_called is None:
            for called in [c for c in guess.called if c not in tried][: guess.max_guesses]:
                a = await one(called, self.options.calling_ae)
                if a is None or a.outcome is AssociationOutcome.ACCEPTED:
                    return
                if a.error is not None and a.reject is None:
                    return  # the server stopped answering: no point in going on
                if calling_refused(a):
                    found_called = called
                    break
        if found_called is None:
            return
        for calling in [c for c in guess.calling if c != self.options.calling_ae][
            : guess.max_guesses
        ]:
            a = await one(found_called, calling)
            if a is None or a.outcome is AssociationOutcome.ACCEPTED:
                return
            if a.error is not None and a.reject is None:
                return

    async def _check_storage(
        self,
        target: Target,
        tls: ssl.SSLContext | None,
        deadline: float,
        pair: Attempt,
        shape: Shape,
    ) -> StorageCheck:
        """Storage acceptance under the AE titles that were let in: the main association's
        answer first, where it carried the classes; associations of its own for the rest
        (see :mod:`.acceptance`)."""

        async def associate(
            contexts: tuple[pdu.PresentationContextProposal, ...],
            roles: tuple[pdu.RoleSelection, ...],
        ) -> pdu.AssociateAccept | Refused:
            rq = request(pair.called_ae, pair.calling_ae, contexts, roles=roles)
            return await associate_once(self._dial, self.options, target, tls, deadline, rq)

        shared = (
            Shared(pair.accept, STORAGE_FIRST_ID)
            if pair.storage_proposed and pair.accept is not None
            else None
        )
        return await check_storage(
            associate,
            deadline=deadline,
            reserve=self.options.read_timeout,
            shared=shared,
            refused=shape.refused,
        )

    async def _worklist_alone(
        self, target: Target, tls: ssl.SSLContext | None, deadline: float, pair: Attempt
    ) -> WorklistExposure:
        """The worklist count on an association of its own, where the main one broke before
        it (a server may refuse Q/R to strangers and still hand out its worklist)."""
        from pacsaudit.probes.dicom.worklist import count_worklist

        hasher = self.options.hasher
        assert hasher is not None  # set at exposure depth, the only one that counts
        found: list[WorklistExposure] = []

        async def use(session: Session) -> bool:
            if 1 not in session.proto.accepted_contexts:
                found.append(WorklistExposure(unknown_reason="context-refused"))
                return True
            counted = await count_worklist(session, 1, hasher, self.options.exposure)
            found.append(counted)
            return counted.error is None

        rq = request(pair.called_ae, pair.calling_ae, (WORKLIST_ALONE,))
        answer = await associate_once(self._dial, self.options, target, tls, deadline, rq, use)
        if found:
            return found[0]
        return WorklistExposure(
            unknown_reason=answer.reason if isinstance(answer, Refused) else "not-queried"
        )

    # -- one association -------------------------------------------------------------------

    async def _shaped(
        self,
        target: Target,
        shape: Shape,
        called_ae: str,
        tls: ssl.SSLContext | None,
        deadline: float,
        calling_ae: str | None = None,
    ) -> Attempt:
        """One attempt as the host's :class:`~.proposal.Shape` says; made once more without
        the storage classes where their number may have spoilt it (aborted, dropped, or
        rejected for a reason that names no AE title)."""
        if not shape.with_storage:
            return await self._attempt(target, called_ae, tls, deadline, calling_ae)
        try:
            attempt = await self._attempt(
                target, called_ae, tls, deadline, calling_ae, with_storage=True
            )
            reason = maybe_too_large(attempt)
        except Broken as broken:
            reason = dropped(broken.error) if broken.after_request else None
            if reason is None:
                raise
        if reason is None:
            return attempt
        shape.take_off(reason)
        try:
            again = await self._attempt(target, called_ae, tls, deadline, calling_ae)
        except Broken:
            shape.not_the_size()
            raise
        if maybe_too_large(again) == reason:
            shape.not_the_size()
        return again

    async def _attempt(
        self,
        target: Target,
        called_ae: str,
        tls: ssl.SSLContext | None,
        deadline: float,
        calling_ae: str | None = None,
        *,
        with_storage: bool = False,
    ) -> Attempt:
        """One connection, one association. Raises Broken when nothing DICOM was received."""
        begin = time.perf_counter()
        calling = calling_ae or self.options.calling_ae
        attempt = Attempt(called_ae, calling, storage_proposed=with_storage)
        try:
            conn = await self._dial(
                target.ip, target.port, self.options.dial, tls=tls, server_hostname=target.host
            )
        except Exception as exc:
            raise Broken(exc) from None
        proto = RequestorConnection(max_pdu_receive=self.options.max_pdu_receive)
        session = Session(conn, proto, read_timeout=self.options.read_timeout, deadline=deadline)
        got_pdu = sent_request = False
        try:
            if tls is not None:
                from pacsaudit.net.tlsinfo import describe_session  # cryptography: TLS only

                attempt.tls = describe_session(conn.tls_session())
            rq = main_request(called_ae, calling, with_storage=with_storage)
            conn.write(proto.request(rq))
            sent_request = True
            sent = time.perf_counter()
            event = await session.next_event(
                wait=max(self.options.read_timeout, self.options.associate_wait)
            )
            attempt.answer_ms = round((time.perf_counter() - sent) * 1000, 3)
            got_pdu = True
            if isinstance(event, AssociationAccepted):
                attempt.outcome = AssociationOutcome.ACCEPTED
                attempt.accept = event.accept
                await self._use_association(session, attempt)
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
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled by the engine: let go at once
                conn.abort()
                raise
            conn.abort()
            if not got_pdu:
                raise Broken(exc, attempt.tls, after_request=sent_request) from None
            if isinstance(exc, PeerAborted):
                attempt.abort = exc.abort
            attempt.error = classify(exc).error
        else:
            conn.close()
        attempt.elapsed_ms = round((time.perf_counter() - begin) * 1000, 3)
        return attempt

    async def _use_association(self, session: Session, attempt: Attempt) -> None:
        """C-ECHO, then (at exposure depth) the survey, then release; partial results stay in
        ``attempt`` whatever breaks."""
        if VERIFICATION_CONTEXT_ID in session.proto.accepted_contexts:
            message_id = session.next_message_id()
            session.send(VERIFICATION_CONTEXT_ID, c_echo_rq(message_id))
            msg = await session.next_message()
            command = msg.command
            if command.command_field != CommandField.C_ECHO_RSP:
                raise DicomProtocolError("unexpected-message", "answer to C-ECHO is not C-ECHO-RSP")
            if command.message_id_being_responded_to != message_id:
                raise DicomProtocolError("wrong-message-id", "C-ECHO-RSP answers another message")
            attempt.echo_status = command.status
        if self.options.depth is Depth.EXPOSURE and self.options.hasher is not None:
            # pydicom (C-FIND identifiers) only where a survey runs
            from pacsaudit.probes.dicom.exposure import ExposureSurvey

            contexts = {
                CONTEXT_UIDS[cid]: cid
                for cid in session.proto.accepted_contexts
                if cid in CONTEXT_UIDS
            }
            survey = ExposureSurvey(session, contexts, self.options.hasher, self.options.exposure)
            worklist = contexts.get(uids.MODALITY_WORKLIST_FIND)
            if worklist is not None:  # counted unless the exchange breaks before
                attempt.worklist = _NOT_QUERIED
            if uids.PATIENT_ROOT_FIND in contexts or uids.STUDY_ROOT_FIND in contexts:
                # run() keeps partial counts and records the error instead of raising.
                attempt.exposure = await survey.run()
                if attempt.exposure.error is not None:
                    return  # the exchange broke: no further request, no release
            attempt.retrieval = await survey.retrieval()
            if (attempt.exposure and attempt.exposure.error) or attempt.retrieval.error:
                return  # the exchange broke: no release on a connection in an unknown state
            if worklist is not None:
                from pacsaudit.probes.dicom.worklist import count_worklist

                attempt.worklist = await count_worklist(
                    session, worklist, self.options.hasher, self.options.exposure
                )
                if attempt.worklist.error is not None:
                    return
        attempt.released = await session.release()

    # -- results ---------------------------------------------------------------------------

    def _result(self, attempts: list[Attempt], storage: StorageCheck | None) -> DicomResult:
        accepted = next((a for a in attempts if a.accept is not None), None)
        records = [self._record(a) for a in attempts]
        tls = next((a.tls for a in attempts if a.tls is not None), None)
        accept = accepted.accept if accepted else None
        class_uid = accept.implementation_class_uid if accept else None
        version_name = accept.implementation_version_name if accept else None
        toolkit = identify_toolkit(class_uid, version_name)
        policy = ae_policy(attempts)
        answers = (
            _answers(accept, accepted.storage_proposed)
            if accepted is not None and accept is not None
            else None
        )
        accepted_contexts = list(answers.accepted) if answers is not None else []
        unknown_ok = answers.unknown_ok if answers is not None else None
        return DicomResult(
            tls=tls,
            ae_policy=policy,
            accepted_called_ae=accepted.called_ae if accepted else None,
            accepted_calling_ae=accepted.calling_ae if accepted else None,
            implementation_class_uid=accept.implementation_class_uid if accept else None,
            implementation_version_name=accept.implementation_version_name if accept else None,
            toolkit=toolkit.name,
            toolkit_version=toolkit.version,
            accepts_unknown_sop_class=unknown_ok,
            accepted_contexts=accepted_contexts,
            echo_status=accepted.echo_status if accepted else None,
            attempts=records,
            exposure=accepted.exposure if accepted else None,
            retrieval=accepted.retrieval if accepted else None,
            worklist=accepted.worklist if accepted else None,
            storage=storage,
        )

    def _record(self, a: Attempt) -> AssociationAttempt:
        contexts = (
            list(_answers(a.accept, a.storage_proposed).contexts) if a.accept is not None else []
        )
        return AssociationAttempt(
            called_ae=a.called_ae,
            calling_ae=a.calling_ae,
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
            answer_ms=a.answer_ms,
        )

    def _finding(
        self,
        target: Target,
        started: float,
        status: Status,
        result: DicomResult | None,
        error: ErrorInfo | None = None,
    ) -> Finding:
        return make_finding(self.name, target, started, status, result, error)

    def _tls_for(self, port: int) -> ssl.SSLContext | None:
        if port not in self.options.tls_ports and not self.options.always_tls:
            return None
        if self._tls_context is None:
            self._tls_context = scanner_tls_context()
        return self._tls_context

    def _random_ae(self) -> str:
        """A title no administrator would configure: accepting it means accepting anyone."""
        return f"PA{self._random.getrandbits(48):012X}"


class DicomTlsProbe(DicomProbe):
    """DICOM over TLS on any port: what the dispatcher runs where a port answered with a TLS
    alert. It claims no port of its own."""

    name: ClassVar[str] = DICOM_TLS.key
    description: ClassVar[str] = DICOM_TLS.description
    default_ports: ClassVar[tuple[int, ...]] = DICOM_TLS.ports

    def __init__(self, options: DicomOptions | None = None, *, dial: Dial | None = None) -> None:
        super().__init__(
            msgspec.structs.replace(options or DicomOptions(), always_tls=True), dial=dial
        )


class _Answers(NamedTuple):
    """What a finding says of one AC's answers (:func:`_read_answers`)."""

    contexts: tuple[ContextOutcome, ...]
    """The probe's own contexts in words (the storage check's are read into ``storage``)."""
    accepted: tuple[str, ...]
    """Keywords of the accepted ones, the unknown class's test context left out."""
    unknown_ok: bool


def _read_answers(accept: pdu.AssociateAccept, storage_proposed: Hashable) -> _Answers:
    contexts: list[ContextOutcome] = []
    for c in accept.contexts:
        if storage_proposed and c.context_id in STORAGE_IDS:
            continue  # the storage check's, read into the finding's `storage`
        # A refused context's transfer syntax means nothing: not part of the key.
        ts = c.transfer_syntax if c.result == _ACCEPTANCE else None
        contexts.append(_context_outcome(c.context_id, c.result, ts))
    return _Answers(
        contexts=tuple(contexts),
        accepted=tuple(
            c.abstract_syntax
            for c in contexts
            if c.accepted and c.abstract_syntax != UNKNOWN_SOP_CLASS_KEYWORD
        ),
        unknown_ok=any(
            c.context_id == UNKNOWN_SOP_CLASS_CONTEXT_ID and c.result == _ACCEPTANCE
            for c in accept.contexts
        ),
    )


_answers = PerAnswer(_read_answers)
"""Once per kind of server: every host of one product answers alike."""


@functools.lru_cache(maxsize=1024)
def _context_outcome(context_id: int, result: int, transfer_syntax: str | None) -> ContextOutcome:
    """One presentation context's answer in words. A pure function of three small values that
    take a handful of combinations across a scan (our context ids, the PS3.8 result codes, the
    transfer syntaxes we proposed), and ContextOutcome is immutable: findings share instances."""
    accepted = result == _ACCEPTANCE
    return ContextOutcome(
        abstract_syntax=CONTEXT_KEYWORDS.get(context_id, f"context-{context_id}"),
        accepted=accepted,
        result=reasons.context_result(result),
        transfer_syntax=_TS_KEYWORDS.get(transfer_syntax, transfer_syntax)
        if accepted and transfer_syntax
        else None,
    )


def _tls_only(broken: Broken) -> DicomResult | None:
    """A TLS server that demands a client certificate: nothing more to learn, nothing exposed
    to a client without one (TLS 1.3 sends the "certificate required" alert after the
    handshake, so the session facts are known; where they are not, the demand still is)."""
    error = broken.error
    if not isinstance(error, ssl.SSLError) or "CERTIFICATE_REQUIRED" not in str(error).upper():
        return None
    tls = broken.tls or TlsInfo(version=None, cipher=None)
    return DicomResult(tls=msgspec.structs.replace(tls, client_certificate_requested=True))
