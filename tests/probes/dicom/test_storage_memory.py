"""Storage acceptance against in-memory peers that limit, refuse or break large proposals.

No real server in the lab limits the number of presentation contexts or drops a large
proposal, so these peers are fakes (A-ASSOCIATE-AC encoded by pynetdicom); the real servers'
answers are checked in ``tests/lab/test_storage_lab.py``. Every peer records each PDU the probe
sends after the A-ASSOCIATE-AC: on a storage association it must be A-RELEASE-RQ and nothing
else — no DIMSE message at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pynetdicom.pdu import A_ASSOCIATE_RQ
from test_probe_memory import scan

from hostile_servers import accept_for, drain_until_eof, read_pdu, serve_association
from pacsaudit.model import ExposureClass, FlagKind, Severity
from pacsaudit.probes.dicom import acceptance, pdu, uids

STORAGE_KEYWORDS = [uids.KEYWORDS[u] for u in uids.STORAGE_CLASSES]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Recorder:
    """Which PDU types followed each A-ASSOCIATE-AC, per association (first = the probe's)."""

    def __init__(self) -> None:
        self.after_accept: list[list[int]] = []
        self.proposed: list[int] = []

    async def release_only(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sent: list[int] = []
        self.after_accept.append(sent)
        for _ in range(100):
            pdu_type, _ = await read_pdu(reader)
            sent.append(pdu_type)
            if pdu_type == pdu.PduType.RELEASE_RQ:
                writer.write(pdu.RELEASE_RP)
                await writer.drain()
                await drain_until_eof(reader)
                return
            if pdu_type != pdu.PduType.P_DATA_TF:
                return


def storage_peer(
    recorder: Recorder, *, answer_first: int = 0, abort_above: int = 0, reject: int = 0
) -> Handler:
    """A DCMTK-like acceptor of Verification and every Storage class. ``answer_first``: answer
    only that many contexts of a proposal; ``abort_above``: A-ABORT any larger proposal;
    ``reject``: A-ASSOCIATE-RJ with that reason (source 1) whatever the proposal."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, request = await read_pdu(reader)
        rq = A_ASSOCIATE_RQ()
        rq.decode(request)
        proposed = [c.to_primitive() for c in rq.presentation_context]
        recorder.proposed.append(len(proposed))
        if proposed[0].abstract_syntax == uids.VERIFICATION:
            writer.write(accept_for(request))  # the probe's own association: C-ECHO, release
            await serve_association(reader, writer)
            return
        if reject:
            writer.write(pdu.encode_associate_rj(1, 1, reject))
            await writer.drain()
            return
        if abort_above and len(proposed) > abort_above:
            writer.write(pdu.encode_abort(2, 0))
            await writer.drain()
            return
        keep = answer_first or len(proposed)
        stored = {c.context_id for c in proposed if c.abstract_syntax in uids.STORAGE_CLASSES}
        writer.write(limited_accept(request, keep, stored))
        await recorder.release_only(reader, writer)

    return handler


def limited_accept(request: bytes, keep: int, accepted_ids: set[int]) -> bytes:
    """pynetdicom's AC for ``request`` cut to its first ``keep`` context items, accepting only
    ``accepted_ids``."""
    raw = bytearray(accept_for(request, accept_all=True))
    body = bytes(raw[6:])
    head, items, pos = body[:68], [], 68
    while pos < len(body):
        length = int.from_bytes(body[pos + 2 : pos + 4], "big")
        items.append(body[pos : pos + 4 + length])
        pos += 4 + length
    contexts = [i for i in items if i[0] == 0x21]
    others = [i for i in items if i[0] != 0x21]
    kept = []
    for item in contexts[:keep]:
        refused = item[4] not in accepted_ids
        kept.append(item[:6] + (b"\x03" if refused else b"\x00") + item[7:])
    new_body = head + others[0] + b"".join(kept) + b"".join(others[1:])
    return bytes((2, 0)) + len(new_body).to_bytes(4, "big") + new_body


def test_every_storage_class_is_proposed_and_nothing_but_a_release_is_sent() -> None:
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert storage is not None
    assert storage.accepted == STORAGE_KEYWORDS
    assert storage.proposed == len(uids.STORAGE_CLASSES)
    assert storage.associations == 1
    assert not storage.split
    assert storage.services_accepted == []  # the peer refuses MPPS, Print, UPS, ...
    assert recorder.proposed[-1] == len(acceptance.PROPOSED)
    assert recorder.after_accept == [[pdu.PduType.RELEASE_RQ]]
    assert finding.result.exposure_class is ExposureClass.WRITABLE  # type: ignore[union-attr]
    assert finding.result.severity is Severity.HIGH  # type: ignore[union-attr]


def test_a_peer_answering_only_some_contexts_gets_the_rest_in_another_association() -> None:
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, answer_first=16))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert storage is not None
    assert storage.accepted == STORAGE_KEYWORDS
    assert storage.unanswered == []
    assert recorder.proposed[1:] == [36, 20, 4]  # 16 answered each time, the rest again
    assert storage.associations == 3
    assert all(sent == [pdu.PduType.RELEASE_RQ] for sent in recorder.after_accept)


def test_a_peer_aborting_large_proposals_is_asked_again_in_halves() -> None:
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, abort_above=12))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert storage is not None
    assert storage.split is True
    assert storage.accepted == STORAGE_KEYWORDS
    assert storage.associations == 7  # 36 → 18 + 18 → four groups of 9: all of them
    assert recorder.proposed[1:] == [36, 18, 18, 9, 9, 9, 9]
    assert all(sent == [pdu.PduType.RELEASE_RQ] for sent in recorder.after_accept)


def test_splitting_is_bounded() -> None:
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, abort_above=4))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert storage is not None
    assert storage.associations == acceptance.MAX_ASSOCIATIONS
    assert storage.accepted == []
    assert set(storage.unanswered) == {uids.KEYWORDS[u] for u in acceptance.PROPOSED}
    assert finding.result.exposure_class is ExposureClass.OPEN_ASSOCIATION  # type: ignore[union-attr]


def test_no_storage_check_when_switched_off() -> None:
    recorder = Recorder()
    finding, peers = scan(storage_peer(recorder), check_storage=False)
    assert finding.result.storage is None  # type: ignore[union-attr]
    assert peers.dials == 1
    assert FlagKind.PROMISCUOUS not in [f.kind for f in finding.result.flags]  # type: ignore[union-attr]


def test_a_peer_rejecting_whatever_the_size_is_asked_twice_only() -> None:
    """DCMTK's wlmscpfs rejects an association without a context it serves: the first half is
    rejected for the same reason, so no further halves are tried."""
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, reject=1))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert storage is not None
    assert recorder.proposed[1:] == [36, 18]
    assert storage.associations == 2
    assert storage.refused == "no-reason-given"
    assert storage.accepted == []
    assert len(storage.unanswered) == len(acceptance.PROPOSED)


def test_a_hostile_accept_counts_only_what_we_proposed() -> None:
    """Context ids we never proposed, a context answered twice (the last answer counts, as in
    the connection), a role granted for a class we did not ask about: only our own contexts'
    answers count, and nothing of the peer's text (its role item's UID) is kept."""
    forged = "1.2.3.4.5.6.7.8.9.PEERTEXT"

    async def associate(
        contexts: tuple[pdu.PresentationContextProposal, ...],
        roles: tuple[pdu.RoleSelection, ...],
    ) -> pdu.AssociateAccept:
        del roles
        answers = [pdu.PresentationContextResult(3, 0, uids.IMPLICIT_VR_LITTLE_ENDIAN)]
        answers += [pdu.PresentationContextResult(3, 3, None)]  # the same id again: refused
        answers += [pdu.PresentationContextResult(1, 0, uids.IMPLICIT_VR_LITTLE_ENDIAN)]
        answers += [pdu.PresentationContextResult(n, 0, None) for n in (2, 200, 255)]
        if contexts[0].abstract_syntax != acceptance.PROPOSED[0]:
            answers = []  # the second association, for the rest: no answer at all
        return pdu.AssociateAccept(
            called_ae="X",
            calling_ae="Y",
            protocol_version=1,
            application_context=None,
            contexts=tuple(answers),
            max_pdu_length=None,
            implementation_class_uid=None,
            implementation_version_name=None,
            roles=(
                pdu.RoleSelection(forged, 1, 1),
                pdu.RoleSelection(contexts[0].abstract_syntax, 1, 1),
            ),
        )

    storage = asyncio.run(acceptance.check_storage(associate, deadline=float("inf")))
    assert storage.accepted == [uids.KEYWORDS[acceptance.PROPOSED[0]]]
    assert storage.scp_role_accepted == storage.accepted
    assert storage.associations == 2  # the unanswered rest was asked once more, then given up
    assert forged not in repr(storage)
