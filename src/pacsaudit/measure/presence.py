"""Which Annex E attributes a dataset carries with a value: counts only, never the values.

This is what may leave the process when pacsaudit looks at patient data, whether the dataset
came from a local file or from a C-FIND response: attribute keywords and how often each held a
non-empty value. Values are looked at only to decide "empty or not" and are never copied.
"""

from __future__ import annotations

from collections import Counter

from pydicom._dicom_dict import DicomDictionary
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from pacsaudit.measure.annex_e import AnnexETable, load_table

MAX_DEPTH = 32
"""Sequences nested deeper than this are not followed (hostile files); PS3.3 needs far fewer."""

_UNDEFINED_LENGTH = 0xFFFFFFFF
_DICTIONARY_SQ = frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")


def is_empty_value(value: object) -> bool:
    """True for a value that carries no information: None, blanks, NULs, an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip(" \x00")
    if isinstance(value, bytes | bytearray):
        return not bytes(value).strip(b" \x00")
    if isinstance(value, list | tuple | MultiValue):
        return all(is_empty_value(v) for v in value)
    if isinstance(value, int | float):
        return False
    return not str(value).strip(" \x00")  # PersonName, UID and other str-like values


def _maybe_sequence(ds: Dataset, tag: int, raw: RawDataElement) -> bool:
    if raw.VR == "SQ" or raw.length == _UNDEFINED_LENGTH:
        return True
    if raw.VR is None or raw.VR == "UN":
        return tag in _DICTIONARY_SQ
    return False


def count_present(
    ds: Dataset, table: AnnexETable | None = None, *, max_depth: int = MAX_DEPTH
) -> Counter[str]:
    """Count, per Annex E keyword, the elements of ``ds`` (nested sequences included) that
    hold a non-empty value.

    Private elements count under ``PrivateAttributes``; a sequence counts when it has items,
    and its items are searched too. File meta information (group 0002) is included when
    ``ds`` has it, since Media Storage SOP Instance UID is an Annex E attribute.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Read with or without pixel data; elements not in the table are not converted.
    table : AnnexETable, optional
        Defaults to the packaged table.

    Returns
    -------
    collections.Counter
        Keyword to number of non-empty occurrences. Holds no value from ``ds``.
    """
    table = table or load_table()
    counts: Counter[str] = Counter()
    meta = getattr(ds, "file_meta", None)
    if isinstance(meta, Dataset):
        _walk(meta, table, counts, 0, max_depth)
    _walk(ds, table, counts, 0, max_depth)
    return counts


def _walk(ds: Dataset, table: AnnexETable, counts: Counter[str], depth: int, limit: int) -> None:
    # plain ints: BaseTag's Python-level __eq__ made every dict and set probe slow
    for tag in list(map(int, ds.keys())):
        attr = table.lookup(tag)
        elem = ds.get_item(tag)
        if elem is None:
            continue
        if isinstance(elem, RawDataElement) and _maybe_sequence(ds, tag, elem):
            try:
                elem = ds[tag]
            except Exception:  # an unparsable element is just not followed
                if attr is not None and elem.length:
                    counts[attr.keyword] += 1
                continue
        if isinstance(elem, DataElement):
            if elem.VR == "SQ":
                items = elem.value or []
                if attr is not None and len(items):
                    counts[attr.keyword] += 1
                if depth < limit:
                    for item in items:
                        _walk(item, table, counts, depth + 1, limit)
                continue
            if attr is not None and not is_empty_value(elem.value):
                counts[attr.keyword] += 1
        elif (
            attr is not None
            and elem.length
            and (elem.value is None or not is_empty_value(elem.value))
        ):
            counts[attr.keyword] += 1  # value None with a length: deferred, so not empty
