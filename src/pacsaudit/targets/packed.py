"""Integer sequences stored as machine words when they fit: 4 or 8 bytes per number.

A Python list of ints costs 8 bytes per slot plus 28–36 bytes per int object; a target file of
ten million scattered addresses would take over a gigabyte that way. ``array('I')`` holds an
IPv4 address in 4 bytes, ``array('Q')`` an (address, port) key in 8; only IPv6 numbers, which
need 128 bits, stay in a list (IPv6 target lists are explicit and small).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, MutableSequence

WORD32 = 1 << 32
WORD64 = 1 << 64


def packed(values: Iterable[int], upper: int) -> MutableSequence[int]:
    """``values`` (all ``0 <= v < upper``) in the smallest container that holds ``upper - 1``."""
    if upper <= WORD32 and array("I").itemsize == 4:
        return array("I", values)
    if upper <= WORD64:
        return array("Q", values)
    return list(values)


def empty_like(upper: int) -> MutableSequence[int]:
    """An empty sequence that will hold numbers below ``upper``."""
    return packed((), upper)
