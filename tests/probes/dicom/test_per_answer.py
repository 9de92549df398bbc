"""Values derived from an AC's answers, once per kind of server (``per_answer``)."""

from __future__ import annotations

from collections.abc import Hashable

import msgspec
from encoded_pdus import ASSOCIATE_AC_DCMTK

from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.per_answer import MEMO_SIZE, PerAnswer


def accept_of(raw: bytes) -> pdu.AssociateAccept:
    parsed = pdu.parse_body(raw[0], raw[6:])
    assert isinstance(parsed, pdu.AssociateAccept)
    return parsed


def counting() -> tuple[PerAnswer[tuple[int, ...]], list[Hashable]]:
    calls: list[Hashable] = []

    def derive(accept: pdu.AssociateAccept, extra: Hashable) -> tuple[int, ...]:
        calls.append(extra)
        return tuple(c.context_id for c in accept.contexts)

    return PerAnswer(derive), calls


def test_hosts_answering_alike_are_read_once_per_extra() -> None:
    derived, calls = counting()
    first, second = accept_of(ASSOCIATE_AC_DCMTK), accept_of(bytes(ASSOCIATE_AC_DCMTK))
    assert first.contexts is second.contexts  # the AC cache hands both the same tuple
    ids = tuple(c.context_id for c in first.contexts)
    assert derived(first, True) == derived(second, True) == ids
    assert derived(second, False) == ids
    assert calls == [True, False]


def test_an_equal_answer_read_elsewhere_is_derived_again() -> None:
    """Identity, not equality: an AC built outside the parser's cache is never taken for a
    cached one, so a memo entry can only be reused for the very tuples it was made from."""
    derived, calls = counting()
    cached = accept_of(ASSOCIATE_AC_DCMTK)
    copied = msgspec.structs.replace(cached, contexts=tuple(list(cached.contexts)))
    assert derived(cached) == derived(copied)
    assert len(calls) == 2


def test_the_memo_stays_bounded() -> None:
    derived, calls = counting()
    accept = accept_of(ASSOCIATE_AC_DCMTK)
    for n in range(MEMO_SIZE * 3):
        derived(accept, n)
    assert len(calls) == MEMO_SIZE * 3
    assert len(derived._memo) <= MEMO_SIZE
