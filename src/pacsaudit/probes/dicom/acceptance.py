"""Which Storage SOP classes a peer takes from a stranger — found out without storing anything.

An accepted Storage presentation context is the SCP's promise to take instances of that class
from us (PS3.4 B.2); proving it needs nothing more than the A-ASSOCIATE-AC. So each common
Storage SOP class (and each workflow service whose acceptance alone tells something: MPPS,
Storage Commitment, Print, UPS) is proposed in a presentation context of its own. The probe
puts them on its main association, after its own contexts (:mod:`.proposal`), and
:func:`check_storage` reads that answer first (:class:`Shared`); only what it left open is asked
on associations of its own, which are released as soon as the answer is read. No DIMSE message
of any kind is sent on a storage context: never C-STORE, N-CREATE, N-SET or N-ACTION.

Peers differ in how many contexts they take. One that answers only the first N gets the rest
in a further association; one that rejects, aborts or drops a large proposal gets it again in
halves, down to :data:`MIN_GROUP` contexts — at most :data:`MAX_ASSOCIATIONS` associations per
host, within the probe's deadline. A half rejected for the same reason as the whole
proposal shows that size was not the cause (DCMTK's wlmscpfs rejects any association without a
context it serves): no more halves are tried, unless the reason is "local limit exceeded".
This module plans and reads; the probe opens the
associations (:class:`Associate`), so the planning is tested without a socket.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Sequence

import msgspec

from pacsaudit.model import ErrorInfo, StorageCheck
from pacsaudit.probes.dicom import pdu, uids
from pacsaudit.probes.dicom.per_answer import PerAnswer

MAX_ASSOCIATIONS = 7
"""One for the whole proposal, two halves, four quarters: the most a host costs."""
MIN_GROUP = 8
"""A group this small that is still refused is not split again."""
TRANSFER_SYNTAXES = (uids.EXPLICIT_VR_LITTLE_ENDIAN, uids.IMPLICIT_VR_LITTLE_ENDIAN)
PROPOSED: tuple[str, ...] = (*uids.STORAGE_CLASSES, *uids.ACCEPTANCE_ONLY_SERVICES)
_STORAGE = frozenset(uids.STORAGE_CLASSES)
_ACCEPTANCE = int(pdu.ContextResult.ACCEPTANCE)


class Refused(msgspec.Struct, frozen=True):
    """An association that gave no context answer: rejected, aborted or broken off."""

    reason: str
    """``rejected-…``, ``aborted``, or the error kind (``read-timeout``, ``reset``, …)."""
    error: ErrorInfo | None = None
    reached: bool = True
    """False when nothing DICOM came back at all (the port stopped answering): stop there."""
    rejected: bool = False
    """An A-ASSOCIATE-RJ (rather than an abort or a dropped connection)."""


Associate = Callable[
    [tuple[pdu.PresentationContextProposal, ...], tuple[pdu.RoleSelection, ...]],
    Awaitable[pdu.AssociateAccept | Refused],
]
"""Open one association with these contexts and roles, release it at once, return the answer."""


def proposal(
    group: Sequence[str], first_id: int = 1
) -> tuple[tuple[pdu.PresentationContextProposal, ...], tuple[pdu.RoleSelection, ...]]:
    """Contexts ``first_id``, +2, +4, … one per class; Role Selection (SCU and SCP) for
    Storage classes.

    Proposing both roles asks the peer one more question at no cost: whether it would also
    send us instances of the class (the SCP role a C-GET requestor needs). The default role —
    requestor as SCU, the one that stores — stands whatever the peer answers about the other.
    """
    contexts = tuple(
        pdu.PresentationContextProposal(first_id + 2 * n, uid, TRANSFER_SYNTAXES)
        for n, uid in enumerate(group)
    )
    roles = tuple(pdu.RoleSelection(uid, 1, 1) for uid in group if uid in _STORAGE)
    return contexts, roles


class Shared(msgspec.Struct, frozen=True):
    """The main association's A-ASSOCIATE-AC, whose proposal carried every class of
    :data:`PROPOSED` from context id ``first_id`` on."""

    accept: pdu.AssociateAccept
    first_id: int


class _Tally:
    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.scp_role: set[str] = set()
        self.answered: set[str] = set()
        self.unanswered: set[str] = set()
        self.associations = 0
        self.shared = False
        self.split = False
        self.error: ErrorInfo | None = None
        self.refused: str | None = None

    def read(
        self, group: tuple[str, ...], accept: pdu.AssociateAccept, first_id: int = 1
    ) -> list[str]:
        """Record one A-ASSOCIATE-AC; return the classes it left unanswered."""
        by_id = {first_id + 2 * n: uid for n, uid in enumerate(group)}
        granted_scp = {r.sop_class_uid for r in accept.roles if r.scp_role == 1}
        for context in accept.contexts:
            uid = by_id.get(context.context_id)
            if uid is None:
                continue  # an id we never proposed: nothing to learn from it
            self.answered.add(uid)
            if context.result == _ACCEPTANCE:
                self.accepted.add(uid)
                if uid in granted_scp:
                    self.scp_role.add(uid)
            else:  # a context answered twice: the last answer counts, as in the connection
                self.accepted.discard(uid)
                self.scp_role.discard(uid)
        return [uid for uid in group if uid not in self.answered]

    def result(self) -> StorageCheck:
        def keywords(found: set[str], among: Sequence[str]) -> list[str]:
            return [uids.KEYWORDS[u] for u in among if u in found]

        return StorageCheck(
            proposed=len(uids.STORAGE_CLASSES),
            accepted=keywords(self.accepted, uids.STORAGE_CLASSES),
            scp_role_accepted=keywords(self.scp_role, uids.STORAGE_CLASSES),
            services_accepted=keywords(self.accepted, uids.ACCEPTANCE_ONLY_SERVICES),
            unanswered=keywords(self.unanswered - self.answered, PROPOSED),
            associations=self.associations,
            shared=self.shared,
            split=self.split,
            refused=self.refused,
            error=self.error,
        )


async def check_storage(
    associate: Associate,
    *,
    deadline: float,
    reserve: float = 1.0,
    shared: Shared | None = None,
    refused: str | None = None,
) -> StorageCheck:
    """Propose every class, split where the peer will not take them all; never raises for
    peer behaviour. ``deadline`` is a ``time.monotonic()`` value; no association starts with
    less than ``reserve`` seconds left.

    ``shared``: the main association already proposed every class; only what its answer left
    open is asked again. ``refused``: the main association proposed them and was refused for
    this reason (the probe then associated without them): the classes are asked in halves.
    """
    if shared is not None and refused is None:
        known = _shared_only(shared.accept, shared.first_id)
        if known is not None:
            return known  # the main association's answer told everything
    tally = _Tally()
    queue = _first_groups(tally, shared, refused)
    while queue:
        if tally.associations >= MAX_ASSOCIATIONS or time.monotonic() > deadline - reserve:
            break
        group = queue.pop(0)
        tally.associations += 1
        answer = await associate(*proposal(group))
        if isinstance(answer, pdu.AssociateAccept):
            missing = tally.read(group, answer)
            if missing and len(missing) < len(group):
                queue.append(tuple(missing))  # a peer that answers only the first N contexts
            else:
                tally.unanswered.update(missing)
            continue
        same_again = _rejected_again(answer, tally.refused, len(group) < len(PROPOSED))
        tally.refused = tally.refused or answer.reason
        if answer.reached and not same_again and len(group) > MIN_GROUP:
            tally.split = True
            half = (len(group) + 1) // 2
            queue += [group[:half], group[half:]]
            continue
        tally.unanswered.update(group)
        tally.error = answer.error or tally.error
        if not answer.reached or same_again:
            break  # the port went silent, or refuses whatever the size: stop asking
    for group in queue:
        tally.unanswered.update(group)
    return tally.result()


def _read_shared(accept: pdu.AssociateAccept, first_id: Hashable) -> StorageCheck | None:
    """The check's result where the main association's answer left nothing to ask (None
    otherwise): a function of the answer alone."""
    assert isinstance(first_id, int)
    tally = _Tally()
    if _first_groups(tally, Shared(accept, first_id), None):
        return None
    return tally.result()


_shared_only = PerAnswer(_read_shared)
"""Worked out once per kind of server: a sweep of one product asks nothing more of any host."""


def _first_groups(
    tally: _Tally, shared: Shared | None, refused: str | None
) -> list[tuple[str, ...]]:
    """What the check's own associations start from, after what the main one told."""
    if shared is not None:
        tally.shared = True
        missing = tally.read(PROPOSED, shared.accept, shared.first_id)
        return [tuple(missing)] if missing else []
    if refused is not None:
        tally.refused = refused
        tally.split = True
        half = (len(PROPOSED) + 1) // 2
        return [PROPOSED[:half], PROPOSED[half:]]
    return [PROPOSED]


def _rejected_again(answer: Refused, first: str | None, smaller: bool) -> bool:
    """A smaller group rejected for the reason the whole was: the size is not the cause."""
    return (
        smaller and answer.rejected and answer.reason == first and first != "local-limit-exceeded"
    )
