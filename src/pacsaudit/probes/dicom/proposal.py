"""What the DICOM probe proposes in its A-ASSOCIATE-RQ, and how a host shapes that proposal.

The main association carries the probe's own contexts (Verification, Q/R, the made-up SOP
class, the worklist: ids 1–17) and, after them, the storage check's classes (ids 19, 21, …,
with Role Selection): one association answers both "who let us in" and "what would it store",
where a second association per open host cost a TCP connection and an association more
(``bench/bench_dicom_sweep.py``: 1.57× slower at the default depth). No DIMSE message is ever
sent on a storage context: the A-ASSOCIATE-AC is the whole answer (:mod:`.acceptance`).

A large proposal is a risk of its own: a peer may reject, abort or drop it. :class:`Shape`
keeps, per host, whether the storage classes still ride on the main association. An attempt
that the proposal's size may have spoilt — aborted, dropped after the request, or rejected
for a reason that does not name an AE title — is made once more without them, and the host's
further attempts stay compact; the storage check then asks on associations of its own,
starting from halves. A rejection naming an AE title is about the title, never about the size:
it is not retried.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from pacsaudit.errors import classify
from pacsaudit.model import AssociationOutcome, ErrorKind
from pacsaudit.probes.dicom import pdu, reasons, uids
from pacsaudit.probes.dicom.acceptance import PROPOSED as STORAGE_PROPOSED
from pacsaudit.probes.dicom.acceptance import proposal
from pacsaudit.probes.dicom.attempt import Attempt

IMPLEMENTATION_CLASS_UID = "2.25.158577293499648220484904446924696762975"
"""pacsaudit's own Implementation Class UID (a UUID-derived UID, PS3.5 B.2)."""
IMPLEMENTATION_VERSION_NAME = "PACSAUDIT_01"
ADVERTISED_MAX_PDU = 64 * 1024

_IMPLICIT = uids.IMPLICIT_VR_LITTLE_ENDIAN
_EXPLICIT = uids.EXPLICIT_VR_LITTLE_ENDIAN
VERIFICATION_CONTEXT_ID = 1
UNKNOWN_SOP_CLASS_CONTEXT_ID = 15
WORKLIST_CONTEXT_ID = 17
UNKNOWN_SOP_CLASS_KEYWORD = "UnknownSOPClass"
PROPOSED_CONTEXTS: tuple[pdu.PresentationContextProposal, ...] = tuple(
    pdu.PresentationContextProposal(cid, uid, ts)
    for cid, uid, ts in (
        (1, uids.VERIFICATION, (_IMPLICIT,)),
        (3, uids.PATIENT_ROOT_FIND, (_EXPLICIT, _IMPLICIT)),
        (5, uids.STUDY_ROOT_FIND, (_EXPLICIT, _IMPLICIT)),
        (7, uids.PATIENT_ROOT_MOVE, (_EXPLICIT, _IMPLICIT)),
        (9, uids.STUDY_ROOT_MOVE, (_EXPLICIT, _IMPLICIT)),
        (11, uids.PATIENT_ROOT_GET, (_EXPLICIT, _IMPLICIT)),
        (13, uids.STUDY_ROOT_GET, (_EXPLICIT, _IMPLICIT)),
        # A SOP class that exists nowhere (under pacsaudit's own UID): a real SCP refuses
        # it, a honeypot that accepts everything does not.
        (UNKNOWN_SOP_CLASS_CONTEXT_ID, IMPLEMENTATION_CLASS_UID + ".9.1", (_IMPLICIT,)),
        (WORKLIST_CONTEXT_ID, uids.MODALITY_WORKLIST_FIND, (_EXPLICIT, _IMPLICIT)),
    )
)
"""The probe's own contexts, the same on every association it opens for itself."""
CONTEXT_UIDS = {c.context_id: c.abstract_syntax for c in PROPOSED_CONTEXTS}
CONTEXT_KEYWORDS = {
    c.context_id: uids.KEYWORDS.get(c.abstract_syntax, UNKNOWN_SOP_CLASS_KEYWORD)
    for c in PROPOSED_CONTEXTS
}
STORAGE_FIRST_ID = WORKLIST_CONTEXT_ID + 2
"""The storage classes follow the probe's contexts on the main association: ids 19, 21, …"""
STORAGE_CONTEXTS, STORAGE_ROLES = proposal(STORAGE_PROPOSED, STORAGE_FIRST_ID)
STORAGE_IDS = frozenset(c.context_id for c in STORAGE_CONTEXTS)
WORKLIST_ALONE = pdu.PresentationContextProposal(
    1, uids.MODALITY_WORKLIST_FIND, (_EXPLICIT, _IMPLICIT)
)
"""The worklist on an association of its own, where the main one broke before it."""

_SIZE_MAY_MATTER = frozenset(
    {
        (1, 1),  # service user, no reason given
        (2, 1),  # service provider (ACSE), no reason given
        (3, 2),  # service provider (presentation), local limit exceeded
    }
)
"""Rejections (source, reason) that a large proposal may have caused; the others name an AE
title, the application context or the protocol version: a smaller proposal changes nothing."""
_DROPPED = frozenset({ErrorKind.EOF, ErrorKind.RESET})
"""The connection ended in answer to the request: some peers drop what they cannot parse."""


@lru_cache(maxsize=16)
def _template(
    contexts: tuple[pdu.PresentationContextProposal, ...], roles: tuple[pdu.RoleSelection, ...]
) -> bytes:
    return pdu.AssociateRequest(
        called_ae="PACSAUDIT",
        calling_ae="PACSAUDIT",
        contexts=contexts,
        max_pdu_length=ADVERTISED_MAX_PDU,
        implementation_class_uid=IMPLEMENTATION_CLASS_UID,
        implementation_version_name=IMPLEMENTATION_VERSION_NAME,
        roles=roles,
    ).encode()


def request(
    called_ae: str,
    calling_ae: str,
    contexts: tuple[pdu.PresentationContextProposal, ...],
    *,
    roles: tuple[pdu.RoleSelection, ...] = (),
) -> bytes:
    """An encoded A-ASSOCIATE-RQ with pacsaudit's identity: a template per proposal, the AE
    titles spliced into a copy (:func:`pdu.with_ae_titles`)."""
    return pdu.with_ae_titles(_template(contexts, roles), called_ae, calling_ae)


_WITH_STORAGE = _template(PROPOSED_CONTEXTS + STORAGE_CONTEXTS, STORAGE_ROLES)
_COMPACT = _template(PROPOSED_CONTEXTS, ())


def main_request(called_ae: str, calling_ae: str, *, with_storage: bool) -> bytes:
    """The main association's A-ASSOCIATE-RQ, with or without the storage classes (both
    encoded once, at import: hashing 45 contexts for a cache lookup costs more)."""
    return pdu.with_ae_titles(_WITH_STORAGE if with_storage else _COMPACT, called_ae, calling_ae)


class Shape(msgspec.Struct):
    """One host's proposal, as its answers shape it: whether the storage classes still ride
    on the main association, and why they were taken off."""

    with_storage: bool
    refused: str | None = None
    """How the large proposal ended where it was taken off (``aborted``, ``eof``, a
    rejection reason): the storage check starts from halves then."""

    def take_off(self, reason: str) -> None:
        self.with_storage = False
        self.refused = reason

    def not_the_size(self) -> None:
        """The compact proposal ended as the large one did: the size was not the cause."""
        self.refused = None


def maybe_too_large(attempt: Attempt) -> str | None:
    """Why an answered attempt may have failed for its proposal's size, or None."""
    if attempt.outcome is AssociationOutcome.ABORTED:
        return "aborted"
    reject = attempt.reject
    if reject is not None and (reject.source, reject.reason) in _SIZE_MAY_MATTER:
        return reasons.reject_info(reject.result, reject.source, reject.reason).reason
    return None


def dropped(error: BaseException) -> str | None:
    """The error kind when the peer ended the connection in answer to a request, or None."""
    info = classify(error).error
    if info is not None and info.kind in _DROPPED:
        return str(info.kind)
    return None
