"""The Basic Application Level Confidentiality Profile (PS3.15 E.1.1) applied to one dataset.

Every attribute of Table E.1-1 gets its action (with the selected options, PS3.15 E.3) at every
nesting level. Compound actions are resolved without per-IOD type information, always towards
the choice that keeps any IOD conformant: ``X/Z`` -> ``Z``, ``X/D``, ``Z/D`` and ``X/Z/D`` -> ``D``,
``X/Z/U*`` -> keep the sequence and replace the UIDs inside it. That is never weaker in what it
removes: a ``Z`` attribute is empty and a ``D`` attribute holds a keyed token or a fixed dummy.

Beyond the table, three safety nets run, because real files carry identifiers where the table
does not look: any Person Name not in the table is emptied, any date not in the table follows the
date option, any UID that is not a registered standard UID is replaced like an instance UID.
A last pass removes, from every text value left, the words that made up this file's patient
identifiers (names, IDs, dates), which is also how ``C`` (clean) is done for text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes

from pacsaudit import __version__
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.measure.annex_e import (
    AnnexETable,
    Option,
    is_curve_group,
    is_overlay_group,
    load_table,
    resolve,
)
from pacsaudit.measure.burned_in import BurnedIn, burned_in_risk

MAX_DEPTH = 32

TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})
_DATE_VRS = frozenset({"DA", "DT"})
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_TOKEN_VRS = frozenset({"LO", "SH", "CS", "AE", "PN"})
_FIXED_DUMMY = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000D",
    "DS": "0",
    "IS": "0",
    "ST": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "UR": "urn:uuid:00000000-0000-0000-0000-000000000000",
}
_MIN_TOKEN = 3
_PRESCREEN_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100"})
_SCRUBBED = "*"

_PATIENT_ID = 0x00100020
_ISSUER_OF_PATIENT_ID = 0x00100021
_PATIENT_NAME = 0x00100010
_PATIENT_BIRTH_DATE = 0x00100030


@dataclass(frozen=True)
class DeidOptions:
    """What the user chose. ``safe_private`` lists (private creator, element byte) pairs that
    the Retain Safe Private option keeps; PS3.15 E.3.10's list is not in our machine-readable
    source, so it is the user's to give and empty by default (all private data goes)."""

    options: frozenset[Option] = frozenset()
    safe_private: frozenset[tuple[str, int]] = frozenset()


@dataclass
class Outcome:
    """What happened to one dataset: counts per action and the burned-in verdict. No values."""

    burned_in: BurnedIn = BurnedIn.UNLIKELY
    actions: Counter[str] = field(default_factory=Counter)


class Deidentifier:
    """Applies the profile; one per process, reused for every file (precomputed look-ups)."""

    def __init__(
        self, pseudonyms: Pseudonyms, options: DeidOptions, table: AnnexETable | None = None
    ) -> None:
        self.table = table or load_table()
        self.pseudonyms = pseudonyms
        self.options = options
        opts = options.options
        self._full_dates = Option.RETAIN_LONG_FULL_DATES in opts
        self._modified_dates = Option.RETAIN_LONG_MODIFIED_DATES in opts and not self._full_dates
        self._retain_uids = Option.RETAIN_UIDS in opts
        self._retain_private = Option.RETAIN_SAFE_PRIVATE in opts
        self._vrs = {tag: _vr(tag) for tag in self.table.by_tag}
        self._actions = {tag: resolve(attr.action(opts)) for tag, attr in self.table.by_tag.items()}
        self._identifiers = frozenset(
            tag
            for tag, attr in self.table.by_tag.items()
            if _vr(tag) in {"PN", "LO", "SH", "DA", "DT"}
            and Option.CLEAN_DESCRIPTORS not in attr.options
            and self._actions[tag] != "K"
        )
        self._method_codes = [codes.DCM.BasicApplicationConfidentialityProfile] + [
            _code_for(opt) for opt in Option if opt in opts
        ]

    # -- per dataset ----------------------------------------------------------------------------

    def apply(self, ds: Dataset) -> Outcome:
        """De-identify ``ds`` in place (file meta included); pixel data is never touched."""
        outcome = Outcome(burned_in=burned_in_risk(ds))
        patient = _patient_identity(ds)
        state = _FileState(
            offset=self.pseudonyms.day_offset(patient) if self._modified_dates else 0,
            tokens=set(),
            actions=outcome.actions,
        )
        meta = getattr(ds, "file_meta", None)
        if isinstance(meta, Dataset) and 0x00020003 in meta:
            self._uid_element(meta, 0x00020003, state)
        self._dataset(ds, state, 0)
        if state.tokens:
            charset = ds.get("SpecificCharacterSet", "") or ""
            # Latin-1 bytes decode exactly; UTF-8 ones keep ASCII words intact.
            prescreen = isinstance(charset, str) and (
                charset in _PRESCREEN_CHARSETS
                or (charset == "ISO_IR 192" and all(t.isascii() for t in state.tokens))
            )
            _scrub(ds, state.tokens, state, 0, prescreen)
        self._mark(ds)
        return outcome

    def _mark(self, ds: Dataset) -> None:
        """Patient Identity Removed and the method, as PS3.15 E.1.1 asks, coded per option."""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = f"pacsaudit {__version__} PS3.15 E.1-1"[:64]
        items = []
        for code in self._method_codes:
            item = Dataset()
            item[0x00080100] = DataElement(0x00080100, "SH", code.value)
            item[0x00080102] = DataElement(0x00080102, "SH", code.scheme_designator)
            item[0x00080104] = DataElement(0x00080104, "LO", code.meaning)
            items.append(item)
        ds[0x00120064] = DataElement(0x00120064, "SQ", Sequence(items))
        if self._full_dates:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif self._modified_dates:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"

    def _dataset(self, ds: Dataset, state: _FileState, depth: int) -> None:
        private: list[int] = []
        # plain ints: BaseTag's Python-level __eq__ made every dict and set probe slow
        for tag in list(map(int, ds.keys())):
            group = tag >> 16
            if group % 2 == 1:
                private.append(tag)
                continue
            if group == 0x0002:
                continue
            if is_curve_group(group) or is_overlay_group(group):
                # Curves and overlays (X, or C with Clean Graphics, which needs pixel-level
                # cleaning we do not do): the whole group goes, so no half overlay is left.
                del ds[tag]
                state.actions["X"] += 1
                continue
            action = self._actions.get(tag)
            if action is None:
                self._unlisted(ds, tag, state, depth)
            else:
                self._act(ds, tag, action, state, depth)
        if private:
            self._private(ds, private, state)

    def _act(self, ds: Dataset, tag: int, action: str, state: _FileState, depth: int) -> None:
        state.actions[action] += 1
        if action == "X" and tag not in self._identifiers and self._vrs[tag] != "PN":
            del ds[tag]  # nothing to learn from its value: no need to decode it
            return
        elem = ds[tag]
        vr = elem.VR
        if tag in self._identifiers or vr == "PN":
            _collect_tokens(elem.value, vr, state.tokens)
        if action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = Sequence() if vr == "SQ" else None
        elif vr == "SQ":
            # K, C, D and U on a sequence: keep it, apply the profile to its items.
            self._items(elem, state, depth)
        elif action == "K":
            pass
        elif action == "U" or (action == "D" and vr == "UI"):
            self._uid_element(ds, tag, state)
        elif action == "D":
            elem.value = self._dummy(elem)
        elif action == "C":
            if vr in _DATE_VRS:
                self._date(elem, state)
            # text is cleaned by the scrub pass; other VRs carry no free text to clean
        else:  # pragma: no cover - _resolve only yields the letters above
            raise AssertionError(action)

    def _unlisted(self, ds: Dataset, tag: int, state: _FileState, depth: int) -> None:
        raw = ds.get_item(tag)
        vr = _element_vr(tag, raw)
        if vr == "SQ":
            elem = ds[tag]
            if elem.VR == "SQ":
                self._items(elem, state, depth)
            return
        if vr == "PN":
            elem = ds[tag]
            _collect_tokens(elem.value, "PN", state.tokens)
            elem.value = None
            state.actions["Z"] += 1
        elif vr in _DATE_VRS:
            elem = ds[tag]
            if self._full_dates or not elem.value:
                return
            if self._modified_dates:
                self._date(elem, state)
                state.actions["C"] += 1
            else:
                elem.value = None
                state.actions["Z"] += 1
        elif vr == "UI" and not self._retain_uids:
            elem = ds[tag]
            values = _as_list(elem.value)
            if any(v and str(v) not in UID_dictionary for v in values):
                self._uid_element(ds, tag, state)
                state.actions["U"] += 1

    def _items(self, elem: DataElement, state: _FileState, depth: int) -> None:
        if depth >= MAX_DEPTH:
            elem.value = Sequence()  # deeper than any IOD: drop rather than leave unchecked
            return
        for item in elem.value or []:
            self._dataset(item, state, depth + 1)

    def _uid_element(self, ds: Dataset, tag: int, state: _FileState) -> None:
        if self._retain_uids:
            return
        elem = ds[tag]
        values = _as_list(elem.value)
        new = [self.pseudonyms.uid(str(v)) if v else v for v in values]
        elem.value = new if len(new) > 1 else (new[0] if new else None)

    def _dummy(self, elem: DataElement) -> object:
        vr = elem.VR
        if vr in _TOKEN_VRS:
            values = [self.pseudonyms.token(str(v)) if v else "" for v in _as_list(elem.value)]
            values = values or [self.pseudonyms.token("")]
            return values if len(values) > 1 else values[0]
        if vr in _FIXED_DUMMY:
            return _FIXED_DUMMY[vr]
        if vr in _NUMERIC_VRS:
            return 0
        if vr in _BINARY_VRS:
            return b"\x00\x00"
        return elem.value  # AT and other VRs without free content

    def _date(self, elem: DataElement, state: _FileState) -> None:
        values = [_shift(str(v), elem.VR, state.offset) for v in _as_list(elem.value) if v]
        elem.value = values if len(values) > 1 else (values[0] if values else None)

    def _private(self, ds: Dataset, tags: list[int], state: _FileState) -> None:
        keep: set[int] = set()
        if self._retain_private and self.options.safe_private:
            for tag in tags:
                element = tag & 0xFFFF
                if element < 0x1000:
                    continue
                creator_tag = (tag & 0xFFFF0000) | (element >> 8)
                creator = ds.get(creator_tag)
                name = str(creator.value).strip().lower() if creator is not None else ""
                if (name, element & 0xFF) in self.options.safe_private:
                    keep.update((tag, creator_tag))
        for tag in tags:
            if tag in keep:
                state.actions["C"] += 1
            else:
                del ds[tag]
                state.actions["X"] += 1


@dataclass
class _FileState:
    offset: int
    tokens: set[str]
    actions: Counter[str]


def _code_for(option: Option) -> Any:
    return next(
        getattr(codes.DCM, name)
        for name in dir(codes.DCM)
        if getattr(codes.DCM, name).value == option.code_value
    )


_VR_CACHE: dict[int, str] = {}


def _vr(tag: int) -> str:
    """The dictionary VR, cached: the same few hundred tags come back in every file."""
    vr = _VR_CACHE.get(tag)
    if vr is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
        if len(_VR_CACHE) < 1 << 16:
            _VR_CACHE[tag] = vr
    return vr


def _element_vr(tag: int, elem: DataElement | RawDataElement | None) -> str:
    if elem is not None and elem.VR and elem.VR != "UN":
        return str(elem.VR)
    return _vr(tag)


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | MultiValue):
        return list(value)
    return [value]


def _patient_identity(ds: Dataset) -> str:
    """Who the dates belong to; read before anything changes. Never leaves this process."""
    for tag in (_PATIENT_ID, _PATIENT_NAME, _PATIENT_BIRTH_DATE):
        value = ds.get(tag)
        if value is not None and value.value not in (None, ""):
            issuer = ds.get(_ISSUER_OF_PATIENT_ID)
            return f"{tag:08x}|{value.value}|{issuer.value if issuer is not None else ''}"
    return ""


def _shift(value: str, vr: str, days: int) -> str:
    """Move a DA or DT by whole days; keeps the time and zone; a bad date becomes empty."""
    text = value.strip()
    if len(text) < 8:
        return ""
    try:
        moved = date(int(text[:4]), int(text[4:6]), int(text[6:8])) + timedelta(days=days)
    except ValueError:
        return ""
    return moved.strftime("%Y%m%d") + (text[8:] if vr == "DT" else "")


_WORD = re.compile(r"[^\W_]+")  # letters and digits: "_" separates words too
_DATE_IN_TEXT = re.compile(
    r"(?<!\d)(?:(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})|(\d{2})[./](\d{2})[./](\d{4}))(?!\d)"
)


def _collect_tokens(value: object, vr: str, tokens: set[str]) -> None:
    """Words (lower-cased, 3 characters or more) and dates (YYYYMMDD) of an identifier."""
    for v in _as_list(value):
        text = str(v).strip()
        if vr in _DATE_VRS:
            if len(text) >= 8 and text[:8].isdigit():
                tokens.add(text[:8])
            continue
        tokens.update(w for w in _WORD.findall(text.lower()) if len(w) >= _MIN_TOKEN)


def _clean_text(text: str, tokens: set[str]) -> str:
    """Replace each word and each written date of ``text`` that is one of ``tokens`` with *.

    Matching words against a set costs the same for any number of identifiers, where one
    regular expression per file (with every identifier in it) cost milliseconds to compile.
    """

    def date(m: re.Match[str]) -> str:
        y, mo, d = (m[1], m[2], m[3]) if m[1] else (m[6], m[5], m[4])
        return _SCRUBBED if f"{y}{mo}{d}" in tokens else m[0]

    def word(m: re.Match[str]) -> str:
        return _SCRUBBED if m[0].lower() in tokens else m[0]

    return _WORD.sub(word, _DATE_IN_TEXT.sub(date, text))


def _scrub(ds: Dataset, tokens: set[str], state: _FileState, depth: int, prescreen: bool) -> None:
    """Remove this file's identifier tokens from every text value left (the ``C`` action for
    text, and the safety net for names typed into other attributes)."""
    # plain ints: BaseTag's Python-level __eq__ made every dict and set probe slow
    for tag in list(map(int, ds.keys())):
        raw = ds.get_item(tag)
        vr = _element_vr(tag, raw)
        if vr == "SQ":
            elem = ds[tag]
            if elem.VR == "SQ" and depth < MAX_DEPTH:
                for item in elem.value or []:
                    _scrub(item, tokens, state, depth + 1, prescreen)
            continue
        if vr not in TEXT_VRS:
            continue
        if prescreen and isinstance(raw, RawDataElement):
            # Decoding is the slow part: look at the undecoded bytes first (every charset
            # allowed here keeps ASCII letters and digits as they are).
            raw_text = raw.value.decode("latin-1") if raw.value else ""
            if _clean_text(raw_text, tokens) == raw_text:
                continue
        elem = ds[tag]
        values = _as_list(elem.value)
        cleaned = [_clean_text(str(v), tokens) for v in values]
        if cleaned != [str(v) for v in values]:
            state.actions["C"] += 1
            elem.value = cleaned if len(cleaned) > 1 else cleaned[0]


def iter_review_reasons(outcome: Outcome) -> Iterator[str]:
    """Why a de-identified file still needs a person's look (pixel data is never altered)."""
    if outcome.burned_in is BurnedIn.DECLARED:
        yield "burned-in-annotation-declared"
    elif outcome.burned_in is BurnedIn.LIKELY:
        yield "burned-in-annotation-likely"
