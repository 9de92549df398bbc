"""Copying the pixel data of a file as bytes, never decoded.

De-identification changes the header only: pixel data is never altered (burned-in text is listed
for review). So the header is read and rewritten, and everything from Pixel Data to the end of
the file is copied by the kernel (``copy_file_range``, else ``sendfile``), which makes the cost
of a file stop growing with its image: a 50 MB multi-frame file costs about what a 64x64 one
does, plus the kernel's copy (the resume journal hashes only the header; a resumed run
compares the copied bytes with the input's, :mod:`pacsaudit.deid.journal`).

That is only safe when the tail holds nothing but pixel data: a private group after it
(7FE1), a digital signature (FFFA) or trailing padding (FFFC) must go through the profile. So
:func:`pixel_tail` walks the element headers of the tail (and the item headers of encapsulated
pixel data) without reading any value, and answers None for anything else; the caller then
de-identifies the whole file the slow way.
"""

from __future__ import annotations

import errno
import os
import struct

_PIXEL_GROUP = 0x7FE0
_ITEM, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
_MAX_ITEMS = 1 << 20
"""Fragments of one encapsulated Pixel Data (a frame each, at most): bounds a hostile walk."""


def pixel_tail(fd: int, start: int, size: int, *, implicit_vr: bool, little_endian: bool) -> bool:
    """Whether bytes ``start``..``size`` of ``fd`` are only Pixel Data group elements (7FE0),
    each whole, ending exactly at the end of the file."""
    order = "<" if little_endian else ">"
    at = start
    while at < size:
        head = os.pread(fd, 12, at)
        if len(head) < 8:
            return False
        group, _element = struct.unpack(f"{order}HH", head[:4])
        if group != _PIXEL_GROUP:
            return False
        if implicit_vr:
            (length,), at = struct.unpack(f"{order}I", head[4:8]), at + 8
        elif head[4:6] in _LONG_VRS:
            if len(head) < 12:
                return False
            (length,), at = struct.unpack(f"{order}I", head[8:12]), at + 12
        else:
            (length,), at = struct.unpack(f"{order}H", head[6:8]), at + 8
        if length == _UNDEFINED:
            found = _items_end(fd, at, size, order)
            if found is None:
                return False
            at = found
        else:
            at += length
    return at == size


def _items_end(fd: int, at: int, size: int, order: str) -> int | None:
    """The offset after the Sequence Delimitation Item of encapsulated pixel data, walking the
    item headers only; None when they do not add up."""
    for _ in range(_MAX_ITEMS):
        head = os.pread(fd, 8, at)
        if len(head) < 8:
            return None
        group, element, length = struct.unpack(f"{order}HHI", head)
        tag = group << 16 | element
        at += 8
        if tag == _SEQUENCE_END:
            return at
        if tag != _ITEM or length == _UNDEFINED or at + length > size:
            return None
        at += length
    return None


def copy_range(src: int, dst: int, offset: int, count: int) -> None:
    """Copy ``count`` bytes of ``src`` from ``offset`` to the end of ``dst`` in the kernel."""
    try:
        while count > 0:
            done = os.copy_file_range(src, dst, count, offset)
            if done == 0:
                raise OSError(errno.EIO, "source ended early")
            offset, count = offset + done, count - done
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while count > 0:  # file systems without copy_file_range between them
        done = os.sendfile(dst, src, offset, count)
        if done == 0:
            raise OSError(errno.EIO, "source ended early")
        offset, count = offset + done, count - done
