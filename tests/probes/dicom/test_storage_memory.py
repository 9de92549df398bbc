"""Storage acceptance against in-memory peers that limit, refuse or break large proposals.

No real server in the lab limits the number of presentation contexts or drops a large
proposal, so these peers are fakes (A-ASSOCIATE-AC encoded by pynetdicom); the real servers'
answers are checked in ``tests/lab/test_storage_lab.py``. The storage classes ride on the
probe's main association (ids 19, 21, …, :mod:`pacsaudit.probes.dicom.proposal`): every peer
records the context of each PDV sent there — never a storage context — and each PDU sent after
the A-ASSOCIATE-AC of the storage check's own associations: A-RELEASE-RQ and nothing else, no
DIMSE message at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pynetdicom.pdu import A_ASSOCIATE_RQ
from test_probe_memory import scan

from hostile_servers import accept_for, called_ae, drain_until_eof, read_pdu
from pacsaudit.model import AePolicy, ExposureClass, FlagKind, Severity
from pacsaudit.probes.dicom import acceptance, pdu, proposal, uids
from pacsaudit.probes.dicom.dimse import c_echo_rsp, decode_command_set

STORAGE_KEYWORDS = [uids.KEYWORDS[u] for u in uids.STORAGE_CLASSES]
MAIN = len(proposal.PROPOSED_CONTEXTS) + len(acceptance.PROPOSED)
"""Contexts of the main association with the storage classes: 9 + 36."""
COMPACT = len(proposal.PROPOSED_CONTEXTS)
CHECKED = frozenset(acceptance.PROPOSED)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Recorder:
    """What the probe proposed and sent: per association, the number of contexts proposed; on
    the main association(s) the context of every PDV; on the storage check's own, the PDU
    types after the A-ASSOCIATE-AC."""

    def __init__(self) -> None:
        self.proposed: list[int] = []
        self.main_pdvs: list[int] = []
        self.after_accept: list[list[int]] = []

    async def main(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """C-ECHO answered, release, as a conformant acceptor; every PDV's context kept."""
        for _ in range(100):
            pdu_type, raw = await read_pdu(reader)
            if pdu_type == pdu.PduType.P_DATA_TF:
                parsed = pdu.parse_body(pdu_type, raw[6:])
                assert isinstance(parsed, pdu.PData)
                pdv = parsed.pdvs[0]
                self.main_pdvs.append(pdv.context_id)
                message_id = decode_command_set(pdv.data).elements.get(0x0110)
                assert isinstance(message_id, int)
                writer.write(pdu.encode_p_data([(pdv.context_id, 0x03, c_echo_rsp(message_id))]))
                continue
            if pdu_type == pdu.PduType.RELEASE_RQ:
                writer.write(pdu.RELEASE_RP)
                await writer.drain()
                await drain_until_eof(reader)
            return

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
    recorder: Recorder,
    *,
    answer_first: int = 0,
    abort_above: int = -1,
    drop_above: int = -1,
    reject_above: int = -1,
    reject_all: int = 0,
    called: str | None = None,
) -> Handler:
    """A DCMTK-like acceptor of Verification and every Storage class. Limits count the storage
    check's contexts in a proposal (the probe's own nine never matter): ``abort_above``
    A-ABORTs, ``drop_above`` closes the connection, ``reject_above`` rejects (1, 1, 1) a
    proposal with more of them; ``answer_first`` answers only that many contexts of any
    proposal; ``reject_all`` rejects every association with that reason (source 1); ``called``
    rejects any other called AE title (reason 7)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, request = await read_pdu(reader)
        rq = A_ASSOCIATE_RQ()
        rq.decode(request)
        proposed = [c.to_primitive() for c in rq.presentation_context]
        recorder.proposed.append(len(proposed))
        checked = sum(c.abstract_syntax in CHECKED for c in proposed)
        refusal = None
        if called is not None and called_ae(request) != called:
            refusal = pdu.encode_associate_rj(1, 1, 7)
        elif reject_all:
            refusal = pdu.encode_associate_rj(1, 1, reject_all)
        elif 0 <= reject_above < checked:
            refusal = pdu.encode_associate_rj(1, 1, 1)
        elif 0 <= abort_above < checked:
            refusal = pdu.encode_abort(2, 0)
        elif 0 <= drop_above < checked:
            return  # the connection closes without an answer
        if refusal is not None:
            writer.write(refusal)
            await writer.drain()
            await drain_until_eof(reader)
            return
        keep = answer_first or len(proposed)
        ok = {
            c.context_id
            for c in proposed
            if c.abstract_syntax in uids.STORAGE_CLASSES or c.abstract_syntax == uids.VERIFICATION
        }
        writer.write(limited_accept(request, keep, ok))
        if proposed[0].abstract_syntax == uids.VERIFICATION:
            await recorder.main(reader, writer)
        else:
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


def no_dimse_on_storage_contexts(recorder: Recorder) -> bool:
    return not set(recorder.main_pdvs) & proposal.STORAGE_IDS and all(
        sent == [pdu.PduType.RELEASE_RQ] for sent in recorder.after_accept
    )


def test_the_main_association_answers_the_storage_check_alone() -> None:
    recorder = Recorder()
    finding, peers = scan(storage_peer(recorder))
    r = finding.result
    storage = r.storage  # type: ignore[union-attr]
    assert storage is not None
    assert storage.accepted == STORAGE_KEYWORDS
    assert storage.proposed == len(uids.STORAGE_CLASSES)
    assert (storage.associations, storage.shared, storage.split) == (0, True, False)
    assert storage.services_accepted == []  # the peer refuses MPPS, Print, UPS, ...
    assert recorder.proposed == [MAIN]
    assert peers.dials == 1
    assert recorder.main_pdvs == [proposal.VERIFICATION_CONTEXT_ID]  # the C-ECHO, nothing else
    assert no_dimse_on_storage_contexts(recorder)
    # the attempt's record keeps the probe's own contexts only
    assert [c.abstract_syntax for c in r.attempts[0].contexts] == [  # type: ignore[union-attr]
        proposal.CONTEXT_KEYWORDS[c.context_id] for c in proposal.PROPOSED_CONTEXTS
    ]
    assert r.accepted_contexts == ["Verification"]  # type: ignore[union-attr]
    assert r.exposure_class is ExposureClass.WRITABLE  # type: ignore[union-attr]
    assert r.severity is Severity.HIGH  # type: ignore[union-attr]


def test_a_peer_answering_only_some_contexts_gets_the_rest_in_another_association() -> None:
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, answer_first=16))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert storage is not None
    assert storage.accepted == STORAGE_KEYWORDS
    assert storage.unanswered == []
    # the main association answered 9 + 7, each own association 16 of the rest
    assert recorder.proposed == [MAIN, 29, 13]
    assert (storage.associations, storage.shared) == (2, True)
    assert no_dimse_on_storage_contexts(recorder)


def test_a_peer_aborting_large_proposals_is_asked_compactly_then_in_halves() -> None:
    recorder = Recorder()
    finding, peers = scan(storage_peer(recorder, abort_above=12))
    r = finding.result
    storage = r.storage  # type: ignore[union-attr]
    assert storage is not None
    assert r.ae_policy is AePolicy.ANY_CALLED_AE  # type: ignore[union-attr]
    assert len(r.attempts) == 1  # type: ignore[union-attr]  # the compact attempt replaces it
    assert (storage.split, storage.shared, storage.refused) == (True, False, "aborted")
    assert storage.accepted == STORAGE_KEYWORDS
    # the aborted main proposal, the compact one, then halves of 36 and quarters
    assert recorder.proposed == [MAIN, COMPACT, 18, 18, 9, 9, 9, 9]
    assert storage.associations == 6
    assert peers.dials == 8
    assert no_dimse_on_storage_contexts(recorder)


def test_a_peer_dropping_a_large_proposal_is_asked_compactly() -> None:
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, drop_above=20))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert finding.status == "dicom"
    assert storage is not None
    assert storage.refused == "eof"
    assert recorder.proposed == [MAIN, COMPACT, 18, 18]
    assert storage.accepted == STORAGE_KEYWORDS
    assert no_dimse_on_storage_contexts(recorder)


def test_a_host_stays_compact_after_its_first_refusal() -> None:
    """The random title is refused for the proposal's size; the known default is then asked
    compactly at once, not with the storage classes again."""
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, abort_above=12, called="ANY-SCP"))
    r = finding.result
    assert r.ae_policy is AePolicy.CALLED_AE_KNOWN_DEFAULT  # type: ignore[union-attr]
    # random title: rejected for the title (reason 7), so never retried; ANY-SCP: aborted
    # with the storage classes, then compact; the rest on the check's own associations
    assert recorder.proposed[:3] == [MAIN, MAIN, COMPACT]
    assert r.storage is not None  # type: ignore[union-attr]
    assert r.storage.accepted == STORAGE_KEYWORDS  # type: ignore[union-attr]


def test_a_refusal_of_the_called_title_is_never_retried() -> None:
    recorder = Recorder()
    finding, peers = scan(storage_peer(recorder, called="ANY-SCP"))
    r = finding.result
    assert recorder.proposed == [MAIN, MAIN]
    assert peers.dials == 2
    assert r.ae_policy is AePolicy.CALLED_AE_KNOWN_DEFAULT  # type: ignore[union-attr]
    assert r.storage.shared is True  # type: ignore[union-attr]


def test_a_peer_refusing_everyone_without_a_reason_costs_one_association_more() -> None:
    """Rejected (1, 1, 1) with the storage classes and without: the size was not the cause,
    and the known default is asked compactly."""
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, reject_all=1))
    r = finding.result
    assert recorder.proposed == [MAIN, COMPACT, COMPACT]
    assert [a.outcome for a in r.attempts] == ["rejected", "rejected"]  # type: ignore[union-attr]
    assert r.ae_policy is AePolicy.REJECTS_ALL  # type: ignore[union-attr]
    assert r.storage is None  # type: ignore[union-attr]


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
    assert recorder.proposed == [COMPACT]
    assert peers.dials == 1
    assert FlagKind.PROMISCUOUS not in [f.kind for f in finding.result.flags]  # type: ignore[union-attr]


def test_a_peer_rejecting_storage_proposals_whatever_the_size_is_asked_twice_only() -> None:
    """Rejected without a reason while the classes ride along, accepted without them: the
    check's first half is rejected for the same reason, so no further halves are tried."""
    recorder = Recorder()
    finding, _ = scan(storage_peer(recorder, reject_above=0))
    storage = finding.result.storage  # type: ignore[union-attr]
    assert storage is not None
    assert recorder.proposed == [MAIN, COMPACT, 18]
    assert storage.associations == 1
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
