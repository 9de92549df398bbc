"""Values read from an A-ASSOCIATE-AC's answers, worked out once per kind of server.

Every server of one product and configuration answers our proposal with the same items, and
:func:`pacsaudit.probes.dicom.pdu.parse_pdu` hands all those ACs the very same ``contexts``
and ``roles`` tuples (read once, from its cache). What the probe derives from them — which
storage classes were granted, the contexts in words, whether the unknown class was taken —
is then the same too; on a sweep of one product it was worked out for every host again (the
53 answers of the main association walked four times, about 40 µs a host).

:class:`PerAnswer` keys a derivation by the identity of the two tuples. It holds them, so an
id cannot be reused by another object while its entry lives; an AC parsed outside the cache
(equal, but another tuple) only misses. Derived values must be immutable: findings share them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from pacsaudit.probes.dicom.pdu import AssociateAccept

T = TypeVar("T")

MEMO_SIZE = 256
"""Kinds of answer kept per derivation: the same bound as the AC cache's, which a hostile
scan's distinct answers cannot grow past (the memo is emptied when full)."""


class PerAnswer(Generic[T]):
    """``derive(accept, extra)`` remembered per AC answer and ``extra`` (a small hashable)."""

    def __init__(self, derive: Callable[[AssociateAccept, Hashable], T]) -> None:
        self._derive = derive
        self._memo: dict[tuple[int, int, Hashable], tuple[object, object, T]] = {}

    def __call__(self, accept: AssociateAccept, extra: Hashable = None) -> T:
        key = (id(accept.contexts), id(accept.roles), extra)
        hit = self._memo.get(key)
        if hit is not None and hit[0] is accept.contexts and hit[1] is accept.roles:
            return hit[2]
        value = self._derive(accept, extra)
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = (accept.contexts, accept.roles, value)
        return value
