"""The Basic Application Level Confidentiality Profile (PS3.15 E.1.1) applied to one dataset.

Every attribute of Table E.1-1 gets its action (with the selected options, PS3.15 E.3) at every
nesting level. Compound actions are resolved without per-IOD type information, always towards
the choice that keeps any IOD conformant: ``X/Z`` -> ``Z``, ``X/D``, ``Z/D`` and ``X/Z/D`` -> ``D``,
``X/Z/U*`` -> keep the sequence and replace the UIDs inside it. That is never weaker in what it
removes: a ``Z`` attribute is empty and a ``D`` attribute holds a keyed token or a fixed dummy.

``D`` on a sequence is a dummy: one empty item, the original items do not survive (an SR's
Content Sequence survives only with Clean Structured Content). ``C`` on a sequence, which only
a clean option gives, keeps its items and cleans them: there, free text the table does not name
is kept and cleaned rather than dummied. ``K`` (a retain option) and ``U`` apply the profile
to the items, as everywhere else.

Beyond the table, safety nets run, because real files carry identifiers where the table does not
look: free text the table does not name is dummied unless it is structural
(:mod:`pacsaudit.deid.structural`: default-deny, file meta included); a Code Meaning becomes
its scheme's own meaning; any Person Name not in the table is emptied, any date not in the table
follows the date option, any UID that is not a registered standard UID is replaced like an
instance UID. A last pass removes, from every text value left, the words that made up this
file's identifiers (:mod:`pacsaudit.deid.names`, every script), which is also how ``C`` (clean)
is done for text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from pacsaudit import __version__
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.deid.names import Identifiers
from pacsaudit.deid.structural import (
    CODE_MEANING,
    CODE_VALUE,
    CODING_SCHEME_DESIGNATOR,
    FILE_META_DEVICE,
    FILE_META_KEPT,
    FREE_TEXT_VRS,
    NAME_BEARING_CS,
    STRUCTURAL_TEXT,
)
from pacsaudit.measure.annex_e import (
    AnnexETable,
    Option,
    is_curve_group,
    is_overlay_group,
    load_table,
    resolve,
)
from pacsaudit.measure.burned_in import BurnedIn, burned_in_risk
from pacsaudit.measure.codes import Code, dcm_code, meaning

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
_DENIED = "ANONYMIZED"
"""What free text the table does not name becomes: valid in every text VR, CS and AE."""
_PRESCREEN_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100"})
_BASIC_PROFILE = "Basic Application Confidentiality Profile"

_ASCII_VRS = frozenset({"UI", "DA", "DT", "TM"})
"""VRs of ASCII characters only: their undecoded bytes are their value in any charset."""
_TOKEN_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})
_TOKENS_ONLY = frozenset({"X", "Z"})
"""Actions that need only the words of a value (for the identifier tokens), not its text."""
_UNSPLIT_VRS = frozenset({"ST", "LT", "UT"})
_LATIN1_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100"})
_SPECIFIC_CHARACTER_SET = 0x00080005
_UNDEF = 0xFFFFFFFF
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
        self._retain_device = Option.RETAIN_DEVICE_IDENTITY in opts
        self._vrs = {tag: _vr(tag) for tag in self.table.by_tag}
        self._actions = {tag: resolve(attr.action(opts)) for tag, attr in self.table.by_tag.items()}
        self._identifiers = frozenset(
            tag
            for tag, attr in self.table.by_tag.items()
            if _vr(tag) in {"PN", "LO", "SH", "DA", "DT"}
            and Option.CLEAN_DESCRIPTORS not in attr.options
            and self._actions[tag] != "K"
        )
        self._method_codes: list[Code] = [dcm_code(_BASIC_PROFILE)] + [
            Code(opt.code_value, "DCM", dcm_code_meaning(opt)) for opt in Option if opt in opts
        ]

    # -- per dataset ----------------------------------------------------------------------------

    def apply(self, ds: Dataset) -> Outcome:
        """De-identify ``ds`` in place (file meta included); pixel data is never touched."""
        outcome = Outcome(burned_in=burned_in_risk(ds))
        patient = _patient_identity(ds)
        state = _FileState(
            offset=self.pseudonyms.day_offset(patient) if self._modified_dates else 0,
            tokens=Identifiers(),
            actions=outcome.actions,
            latin1=_latin1(ds, True),
        )
        meta = getattr(ds, "file_meta", None)
        if isinstance(meta, Dataset):
            for tag in list(map(int, meta.keys())):
                self._meta_element(meta, tag, state)
        self._dataset(ds, state, 0, clean=False)
        if state.tokens:
            charset = ds.get("SpecificCharacterSet", "") or ""
            # Latin-1 bytes decode exactly; UTF-8 ones keep ASCII words intact.
            prescreen = isinstance(charset, str) and (
                charset in _PRESCREEN_CHARSETS or (charset == "ISO_IR 192" and state.tokens.ascii)
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
            item[0x00080102] = DataElement(0x00080102, "SH", code.scheme)
            item[0x00080104] = DataElement(0x00080104, "LO", code.meaning)
            items.append(item)
        ds[0x00120064] = DataElement(0x00120064, "SQ", Sequence(items))
        if self._full_dates:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif self._modified_dates:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"

    def _meta_element(self, meta: Dataset, tag: int, state: _FileState) -> None:
        """File meta (PS3.10 7.1): the encoding and the writer are kept, the instance UID
        replaced, AE titles kept only with Retain Device Identity; everything else, Type 3
        and free to hold anything (Private Information, a presentation address), goes."""
        if tag == 0x00020003:
            self._uid_element(meta, tag, state)
        elif tag in FILE_META_KEPT:
            return
        elif tag in FILE_META_DEVICE and self._retain_device:
            state.actions["K"] += 1
        else:
            del meta[tag]
            state.actions["X"] += 1

    def _dataset(self, ds: Dataset, state: _FileState, depth: int, *, clean: bool) -> None:
        """Apply the profile to one data set; ``clean`` inside sequences an option keeps (their
        unlisted free text is cleaned instead of dummied)."""
        private: list[int] = []
        inherited = state.latin1
        state.latin1 = _latin1(ds, inherited)  # an item may name a character set of its own
        # plain ints: BaseTag's Python-level __eq__ made every dict and set probe slow
        for tag in list(map(int, ds.keys())):
            group = tag >> 16
            if group % 2 == 1:
                private.append(tag)
                continue
            if group == 0x0002:  # file meta out of place (a bare data set): same rules
                self._meta_element(ds, tag, state)
                continue
            if is_curve_group(group) or is_overlay_group(group):
                # Curves and overlays (X, or C with Clean Graphics, which needs pixel-level
                # cleaning we do not do): the whole group goes, so no half overlay is left.
                del ds[tag]
                state.actions["X"] += 1
                continue
            action = self._actions.get(tag)
            if action is None:
                self._unlisted(ds, tag, state, depth, clean)
            else:
                self._act(ds, tag, action, state, depth, clean)
        if private:
            self._private(ds, private, state)
        state.latin1 = inherited

    def _act(
        self, ds: Dataset, tag: int, action: str, state: _FileState, depth: int, clean: bool
    ) -> None:
        state.actions[action] += 1
        if action == "X" and tag not in self._identifiers and self._vrs[tag] != "PN":
            del ds[tag]  # nothing to learn from its value: no need to decode it
            return
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement):
            if _element_vr(tag, raw) == "SQ" and action in ("Z", "D"):
                # Z and D replace the items unread (D: one empty item, none of the originals;
                # X was done above): nothing in them is needed, so they are never parsed.
                items = Sequence([Dataset()]) if action == "D" else Sequence()
                ds[tag] = DataElement(tag, "SQ", items, is_undefined_length=raw.length == _UNDEF)
                return
            if self._act_raw(ds, tag, raw, action, state):
                return
        elem = ds[tag]
        vr = elem.VR
        if tag in self._identifiers or vr == "PN":
            state.tokens.add(_as_list(elem.value), vr)
        if action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = Sequence() if vr == "SQ" else None
        elif vr == "SQ":
            if action == "D":  # a dummy value: one empty item, none of the originals
                elem.value = Sequence([Dataset()])
            else:  # C: an option keeps content, cleaned; K, U: the items get the profile
                self._items(elem, state, depth, clean=clean or action == "C")
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

    def _act_raw(
        self, ds: Dataset, tag: int, raw: RawDataElement, action: str, state: _FileState
    ) -> bool:
        """``action`` done on the undecoded value, where that gives what decoding would:
        ASCII VRs (UI, dates, times) always, text and names in Latin-1 when only their words
        are needed (X, Z: the identifier tokens). False: not done, decode and act."""
        vr = _element_vr(tag, raw)
        ascii_vr = vr in _ASCII_VRS
        if not ascii_vr and not (state.latin1 and vr in _TOKEN_TEXT_VRS and action in _TOKENS_ONLY):
            return False
        values = _raw_values(raw, vr)
        if values is None:
            return False
        if tag in self._identifiers or vr == "PN":
            state.tokens.add(values, vr)
        if action == "X":
            del ds[tag]
        elif action == "Z":
            ds[tag] = DataElement(tag, vr, None)
        elif action == "K":
            pass
        elif vr == "UI" and action in ("U", "D"):
            if not self._retain_uids:
                ds[tag] = DataElement(tag, vr, self._new_uids(values))
        elif action == "D" and vr in _FIXED_DUMMY:
            ds[tag] = DataElement(tag, vr, _FIXED_DUMMY[vr])
        elif action == "C" and vr in _DATE_VRS:
            ds[tag] = DataElement(tag, vr, self._shifted(values, vr, state))
        elif action == "C":
            pass  # TM and the like: no free text to clean
        else:
            return False  # the same letters as _act, whose fallback handles the rest
        return True

    def _unlisted(self, ds: Dataset, tag: int, state: _FileState, depth: int, clean: bool) -> None:
        raw = ds.get_item(tag)
        vr = _element_vr(tag, raw)
        if vr == "SQ":
            elem = ds[tag]
            if elem.VR == "SQ":
                self._items(elem, state, depth, clean=clean)
            return
        if vr == "PN":
            elem = ds[tag]
            state.tokens.add(_as_list(elem.value), "PN")
            elem.value = None
            state.actions["Z"] += 1
        elif vr in _DATE_VRS:
            values = _raw_values(raw, vr) if isinstance(raw, RawDataElement) else None
            if values is None:
                values = [str(v) for v in _as_list(ds[tag].value)]
            if self._full_dates or not values:
                return
            if self._modified_dates:
                ds[tag] = DataElement(tag, vr, self._shifted(values, vr, state))
                state.actions["C"] += 1
            else:
                ds[tag] = DataElement(tag, vr, None)
                state.actions["Z"] += 1
        elif vr == "UI" and not self._retain_uids:
            values = _raw_values(raw, vr) if isinstance(raw, RawDataElement) else None
            if values is None:
                values = [str(v) for v in _as_list(ds[tag].value)]
            if any(v and v not in UID_dictionary for v in values):
                ds[tag] = DataElement(tag, vr, self._new_uids(values))
                state.actions["U"] += 1
        elif vr == "UN":  # not in the dictionary: its bytes may be any text, never cleaned
            del ds[tag]
            state.actions["X"] += 1
        elif clean or tag in STRUCTURAL_TEXT:
            return  # kept; the scrub pass removes this file's identifiers from it
        elif tag == CODE_MEANING:
            self._code_meaning(ds, raw, state)
        elif vr == "AE" and self._retain_device:
            return  # an AE title is device identity (PS3.15 E.3.4)
        elif vr in FREE_TEXT_VRS or (vr == "CS" and tag in NAME_BEARING_CS):
            self._deny(ds, tag, vr, raw, state)

    def _deny(
        self,
        ds: Dataset,
        tag: int,
        vr: str,
        raw: DataElement | RawDataElement | None,
        state: _FileState,
    ) -> None:
        """Free text the table does not name: a dummy of its VR (never decoded)."""
        if raw is None or raw.value in (None, b"", "", []):
            return  # nothing to hide
        dummy = _FIXED_DUMMY["UR"] if vr == "UR" else _DENIED
        ds[tag] = DataElement(tag, vr, dummy)
        state.actions["D"] += 1

    def _code_meaning(
        self, ds: Dataset, raw: DataElement | RawDataElement | None, state: _FileState
    ) -> None:
        """A Code Meaning is free text beside a code: it becomes the meaning the coding
        scheme gives that code (PS3.16), or a dummy for a code the dictionary lacks."""
        if raw is None or raw.value in (None, b"", "", []):
            return
        scheme, value = ds.get(CODING_SCHEME_DESIGNATOR), ds.get(CODE_VALUE)
        found = None
        if scheme is not None and value is not None:
            found = meaning(str(scheme.value or "").strip(), str(value.value or "").strip())
        ds[CODE_MEANING] = DataElement(CODE_MEANING, "LO", found or _DENIED)
        state.actions["D"] += 1

    def _items(self, elem: DataElement, state: _FileState, depth: int, *, clean: bool) -> None:
        if depth >= MAX_DEPTH:
            elem.value = Sequence()  # deeper than any IOD: drop rather than leave unchecked
            return
        for item in elem.value or []:
            self._dataset(item, state, depth + 1, clean=clean)

    def _uid_element(self, ds: Dataset, tag: int, state: _FileState) -> None:
        if self._retain_uids:
            return
        elem = ds[tag]
        elem.value = self._new_uids([str(v) for v in _as_list(elem.value)])

    def _new_uids(self, values: list[str]) -> str | list[str] | None:
        new = [self.pseudonyms.uid(v) if v else v for v in values]
        return new if len(new) > 1 else (new[0] if new else None)

    def _shifted(self, values: list[str], vr: str, state: _FileState) -> str | list[str] | None:
        moved = [_shift(v, vr, state.offset) for v in values if v]
        return moved if len(moved) > 1 else (moved[0] if moved else None)

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
        elem.value = self._shifted([str(v) for v in _as_list(elem.value)], elem.VR, state)

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
    tokens: Identifiers
    actions: Counter[str]
    latin1: bool
    """Whether the data set being walked decodes text as Latin-1 (its own or its parent's
    character set is the default or ISO_IR 100): then undecoded bytes give pydicom's text."""


def _latin1(ds: Dataset, inherited: bool) -> bool:
    raw = ds._dict.get(_SPECIFIC_CHARACTER_SET)  # type: ignore[call-overload]  # int keys work
    if raw is None:
        return inherited
    value = raw.value
    if isinstance(value, bytes):
        value = value.decode("latin-1").rstrip(" \0")
    return isinstance(value, str) and value in _LATIN1_CHARSETS


def _raw_values(raw: RawDataElement, vr: str) -> list[str] | None:
    """The values pydicom would decode from ``raw`` (a string VR in ASCII or, for text, in
    Latin-1): the bytes as Latin-1, trailing padding removed, split at backslashes (one
    value for ST, LT, UT). None for a value not read (a deferred read)."""
    value = raw.value
    if not isinstance(value, bytes):
        return None
    text = value.decode("latin-1").rstrip(" \0")
    if not text:
        return []
    return [text] if vr in _UNSPLIT_VRS else text.split("\\")


def dcm_code_meaning(option: Option) -> str:
    """The option's meaning in CID 7050, from the code dictionary."""
    found = meaning("DCM", option.code_value)
    assert found is not None, option  # the dictionary is package data: a bug, not input
    return found


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


def _scrub(
    ds: Dataset, tokens: Identifiers, state: _FileState, depth: int, prescreen: bool
) -> None:
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
            if tokens.clean(raw_text) == raw_text:
                continue
        elem = ds[tag]
        values = _as_list(elem.value)
        cleaned = [tokens.clean(str(v)) for v in values]
        if cleaned != [str(v) for v in values]:
            state.actions["C"] += 1
            elem.value = cleaned if len(cleaned) > 1 else cleaned[0]


def iter_review_reasons(outcome: Outcome) -> Iterator[str]:
    """Why a de-identified file still needs a person's look (pixel data is never altered)."""
    if outcome.burned_in is BurnedIn.DECLARED:
        yield "burned-in-annotation-declared"
    elif outcome.burned_in is BurnedIn.LIKELY:
        yield "burned-in-annotation-likely"
