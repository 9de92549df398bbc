"""One association attempt as the DICOM probe keeps it while it runs, and what attempts say.

The probe (:mod:`.probe`) fills an :class:`Attempt` per A-ASSOCIATE-RQ; :func:`ae_policy` reads
the AE-title policy off the list, and :class:`Prior` records a second-pass attempt
(:mod:`pacsaudit.followup`) under the first pass's finding.
"""

from __future__ import annotations

import msgspec

from pacsaudit.model import (
    AePolicy,
    AssociationOutcome,
    DicomResult,
    ErrorInfo,
    Exposure,
    Retrieval,
    TlsInfo,
    WorklistExposure,
)
from pacsaudit.probes.dicom import pdu, reasons


class Broken(Exception):
    """An exchange ended early; carries the attempt recorded so far."""

    def __init__(
        self, error: BaseException, tls: TlsInfo | None = None, *, after_request: bool = False
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.tls = tls
        self.after_request = after_request
        """The A-ASSOCIATE-RQ had been sent: the peer ended the exchange in answer to it."""


class Attempt(msgspec.Struct):
    called_ae: str
    calling_ae: str
    outcome: AssociationOutcome = AssociationOutcome.FAILED
    accept: pdu.AssociateAccept | None = None
    reject: pdu.AssociateReject | None = None
    abort: pdu.Abort | None = None
    echo_status: int | None = None
    released: bool | None = None
    error: ErrorInfo | None = None
    tls: TlsInfo | None = None
    elapsed_ms: float = 0.0
    answer_ms: float | None = None
    exposure: Exposure | None = None
    retrieval: Retrieval | None = None
    worklist: WorklistExposure | None = None
    storage_proposed: bool = False
    """The request carried the storage check's classes (:mod:`.proposal`)."""


class Prior(msgspec.Struct, frozen=True):
    """The first pass's finding, under which a second-pass attempt is recorded."""

    earlier: DicomResult
    source: str

    def merge(self, now: DicomResult) -> DicomResult:
        """The earlier attempts first, then the second pass's; the policy says the revealed
        title was let in, or stays what the first pass found."""
        policy = (
            AePolicy.CALLED_AE_REVEALED
            if now.accepted_called_ae is not None
            else self.earlier.ae_policy
        )
        return msgspec.structs.replace(
            now,
            ae_policy=policy,
            called_ae_source=self.source,
            attempts=[*self.earlier.attempts, *now.attempts],
            tls=now.tls or self.earlier.tls,
        )


def accepted(attempts: list[Attempt]) -> bool:
    return any(a.outcome is AssociationOutcome.ACCEPTED for a in attempts)


def calling_refused(a: Attempt) -> bool:
    return a.reject is not None and (a.reject.source, a.reject.reason) == (
        reasons.CALLING_AE_NOT_RECOGNIZED
    )


def ae_policy(attempts: list[Attempt]) -> AePolicy:
    """The AE-title policy shown by our attempts: random title, default title, guesses."""
    first = attempts[0]
    if first.outcome is AssociationOutcome.ACCEPTED:
        return AePolicy.ANY_CALLED_AE
    if any(a.outcome is AssociationOutcome.ACCEPTED for a in attempts[2:]):
        return AePolicy.GUESSABLE
    if len(attempts) > 1 and attempts[1].outcome is AssociationOutcome.ACCEPTED:
        return AePolicy.CALLED_AE_KNOWN_DEFAULT
    codes = [(a.reject.source, a.reject.reason) for a in attempts if a.reject is not None]
    if reasons.CALLING_AE_NOT_RECOGNIZED in codes:
        return AePolicy.CALLING_AE_ENFORCED
    if codes and all(c == reasons.CALLED_AE_NOT_RECOGNIZED for c in codes):
        return AePolicy.CALLED_AE_ENFORCED
    if codes and len(codes) == len(attempts):
        return AePolicy.REJECTS_ALL
    return AePolicy.UNKNOWN
