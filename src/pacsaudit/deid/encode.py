"""The de-identified header as bytes: untouched elements copied as they were read.

pydicom's writer re-encodes every element through a buffer of its own (about 40 µs each); most
elements of a header are kept by the profile and were never decoded (they are still pydicom's
``RawDataElement``, the value as read). Here such an element is written as its tag, VR and
length followed by its original value bytes, and everything else (a value the profile set, a
sequence's items, a data set in another encoding or character set) goes through pydicom's own
functions, so the output is byte for byte what :func:`pydicom.filewriter.write_dataset` and
:func:`~pydicom.filewriter.write_file_meta_info` give (``tests/deid/test_encode.py`` compares
them on a corpus). The rules copied from pydicom (PS3.5 7.1, 7.5):

- elements in tag order; retired group lengths ``(gggg,0000)`` of groups above 6 are dropped;
- explicit VR: VRs of PS3.5 Table 7.1-1 take two reserved bytes and a 4-byte length, the rest a
  2-byte length; implicit VR: tag and a 4-byte length;
- a sequence of defined or undefined length as it was read (undefined: a Sequence
  Delimitation Item after it); each item of defined length, with its length computed, unless
  it was read with an undefined length (then an Item Delimitation Item ends it);
- a data set whose encoding or character set is not the one it was read with (an item the
  profile made) is handed to pydicom whole: pydicom then decodes and re-encodes every element.
"""

from __future__ import annotations

import struct

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset

_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"})
"""PS3.5 Table 7.1-1: explicit VRs with a 4-byte length (pydicom's EXPLICIT_VR_LENGTH_32)."""
_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI", "UR"})
"""Written by pydicom's ``write_string`` from a str (DA, DT, TM: when the value is a str)."""
_PAD = {vr: b"\0" if vr == "UI" else b" " for vr in _STRING_VRS}
_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
"""Written by ``write_text`` in the data set's character set (PN has a writer of its own)."""
_ASCII_ENCODINGS = frozenset({"iso8859", "latin_1", "utf_8"})
"""Python codecs (after ``convert_encodings``) that write ASCII text as ASCII, with no escape."""
_EMPTY_TYPES = (str, bytes, list, tuple)
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD


class _Format:
    """The packers of one byte order and VR encoding."""

    __slots__ = ("implicit", "little", "long", "order", "short", "tag", "tag_ul")

    def __init__(self, implicit: bool, little: bool) -> None:
        self.implicit, self.little = implicit, little
        self.order = "<" if little else ">"
        o = self.order
        self.tag = struct.Struct(f"{o}HH").pack
        self.tag_ul = struct.Struct(f"{o}HHI").pack
        self.long = struct.Struct(f"{o}HH2s2xI").pack
        self.short = struct.Struct(f"{o}HH2sH").pack

    def marker(self, tag: int, length: int) -> bytes:
        """An item or delimiter header: tag and a 4-byte length, in every encoding."""
        return self.tag_ul(tag >> 16, tag & 0xFFFF, length)


_FORMATS = {(i, le): _Format(i, le) for i in (False, True) for le in (False, True)}


def encode_dataset(ds: Dataset, implicit: bool, little: bool) -> bytes:
    """``ds`` encoded as :func:`pydicom.filewriter.write_dataset` encodes it."""
    parts: list[bytes] = []
    _dataset(parts, ds, default_encoding, _FORMATS[(implicit, little)])
    return b"".join(parts)


def encode_file_meta(meta: Dataset) -> bytes:
    """The file meta group as ``write_file_meta_info(fp, meta, enforce_standard=False)``
    writes it: explicit VR little endian, the group length (when present) set to the bytes
    that follow it. Like pydicom, it refuses elements outside group 0002 (ValueError)."""
    if any(tag >> 16 != 0x0002 for tag in meta._dict):
        raise ValueError("only File Meta Information group (0002,eeee) elements may be present")
    fmt = _FORMATS[(False, True)]
    if 0x00020000 not in meta:
        parts: list[bytes] = []
        _dataset(parts, meta, default_encoding, fmt)
        return b"".join(parts)
    meta.FileMetaInformationGroupLength = 0
    parts = []
    _dataset(parts, meta, default_encoding, fmt)
    body = b"".join(parts[1:])  # the group length element comes first (tag order)
    meta.FileMetaInformationGroupLength = len(body)
    return _delegated(meta[0x00020000], default_encoding, fmt) + body


def _dataset(
    parts: list[bytes], ds: Dataset, parent_encoding: str | list[str], fmt: _Format
) -> None:
    if (fmt.implicit, fmt.little) != ds.original_encoding or (
        ds.original_character_set != ds._character_set
    ):
        # pydicom decodes every element of such a data set again (VR correction, charset)
        fp = _buffer(fmt)
        write_dataset(fp, ds, parent_encoding)
        parts.append(fp.getvalue())
        return
    encodings = ds.get("SpecificCharacterSet", parent_encoding)
    first: str | None = None  # the first Python codec of ``encodings``, when needed
    # plain int keys: BaseTag's Python-level comparisons made sorting and look-ups slow
    for tag, elem in sorted([(int(t), e) for t, e in ds._dict.items()], key=_first):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group length (PS3.5 7.2): pydicom does not write it either
        if isinstance(elem, RawDataElement):
            if elem.value is None:  # a deferred read: pydicom's get_item reads it first
                elem = ds[tag]
                parts.append(_delegated(elem, encodings, fmt))
                continue
            head = _raw_head(elem, tag, fmt)
            if head is not None:
                parts.append(head)
                parts.append(elem.value)
                continue
        elif elem.VR == "SQ" and not elem.is_buffered:
            _sequence(parts, elem, tag, encodings, fmt)
            continue
        else:
            if first is None:
                first = convert_encodings(encodings or [default_encoding])[0]
            value = _simple_value(elem, first)
            if value is not None:
                head = _head(tag, elem.VR, len(value), fmt)
                if head is not None:
                    parts.append(head)
                    parts.append(value)
                    continue
        parts.append(_delegated(elem, encodings, fmt))


def _simple_value(elem: DataElement, first_encoding: str) -> bytes | None:
    """The value bytes of an element the profile set, for the shapes whose encoding is plain
    (pydicom's ``write_string`` / ``write_text``): nothing, or one ASCII string of a string VR
    in a character set that writes ASCII as ASCII. None for anything else (pydicom writes it)."""
    value = elem.value
    if elem.is_undefined_length:
        return None
    if value is None or (type(value) in _EMPTY_TYPES and not value):
        return b""
    if not isinstance(value, str) or elem.is_buffered or not value.isascii():
        return None
    vr = elem.VR
    if vr in _STRING_VRS:  # write_string: ASCII, padded to even length
        data = value.encode()
        return data + _PAD[vr] if len(data) % 2 else data
    if vr in _TEXT_VRS and first_encoding in _ASCII_ENCODINGS:  # write_text
        data = value.encode()
        return data + b" " if len(data) % 2 else data
    return None


def _head(tag: int, vr: str | None, length: int, fmt: _Format) -> bytes | None:
    group, element = tag >> 16, tag & 0xFFFF
    if fmt.implicit:
        return fmt.tag_ul(group, element, length)
    if not isinstance(vr, str) or len(vr) != 2:
        return None  # an ambiguous VR ("US or SS"): pydicom refuses it in explicit VR
    if vr in _LONG_VRS:
        return fmt.long(group, element, vr.encode(), length)
    if length > 0xFFFF:
        return None  # pydicom writes it as UN, with a warning
    return fmt.short(group, element, vr.encode(), length)


def _first(pair: tuple[int, object]) -> int:
    return pair[0]


def _raw_head(elem: RawDataElement, tag: int, fmt: _Format) -> bytes | None:
    """The tag, VR and length of an element kept as read; None where pydicom does more than
    copy (undefined length, a value too long for its VR, a value not read)."""
    value = elem.value
    if not isinstance(value, bytes) or elem.length == _UNDEFINED:
        return None
    return _head(tag, elem.VR, len(value), fmt)


def _sequence(
    parts: list[bytes],
    elem: DataElement,
    tag: int,
    encodings: str | list[str] | None,
    fmt: _Format,
) -> None:
    """A sequence as pydicom's ``write_data_element`` and ``write_sequence_item`` write it."""
    children = convert_encodings(encodings or [default_encoding])
    body: list[bytes] = []
    for item in elem.value or ():
        inner: list[bytes] = []
        _dataset(inner, item, children, fmt)
        data = b"".join(inner)
        if getattr(item, "is_undefined_length_sequence_item", False):
            body += [fmt.marker(_ITEM, _UNDEFINED), data, fmt.marker(_ITEM_END, 0)]
        else:
            body += [fmt.marker(_ITEM, len(data)), data]
    group, element = tag >> 16, tag & 0xFFFF
    undefined = elem.is_undefined_length
    length = _UNDEFINED if undefined else sum(map(len, body))
    if fmt.implicit:
        parts.append(fmt.tag_ul(group, element, length))
    else:
        parts.append(fmt.long(group, element, b"SQ", length))
    parts += body
    if undefined:
        parts.append(fmt.marker(_SEQUENCE_END, 0))


def _delegated(
    elem: DataElement | RawDataElement, encodings: str | list[str] | None, fmt: _Format
) -> bytes:
    fp = _buffer(fmt)
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


def _buffer(fmt: _Format) -> DicomBytesIO:
    fp = DicomBytesIO()
    fp.is_implicit_VR = fmt.implicit
    fp.is_little_endian = fmt.little
    return fp
