"""PS3.15 Annex E, Table E.1-1: the attributes that can identify a patient, as data.

The table is package data copied from a machine-readable export of the standard (see
``pacsaudit/data/annex_e/provenance.json`` and ``tools/annex_e_table.py``); nothing here is
typed from the standard by hand. De-identification (``pacsaudit.deid``), local inspection
(``pacsaudit.inspection``) and the measurement of what a Q/R server exposes all read this one
model, so they agree on what "identifying" means.

Actions (PS3.15 Table E.1-1a): ``D`` replace with a dummy value, ``Z`` replace with a zero-length
(or dummy) value, ``X`` remove, ``K`` keep (clean sequences), ``C`` clean, ``U`` replace UIDs
consistently. A compound such as ``X/Z/D`` lets the implementation pick according to the
attribute's type in the IOD.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources

import msgspec
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from pacsaudit.measure.codes import dcm_code

TABLE_FILE = "table-e1-1.json"
PROVENANCE_FILE = "provenance.json"

ACTIONS = frozenset("DZXKCU")

PRIVATE_KEYWORD = "PrivateAttributes"
"""The label under which private (odd-group) elements are counted."""


class Option(enum.StrEnum):
    """The profile options of PS3.15 E.3, each tied to its column and its CID 7050 code."""

    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    RETAIN_UIDS = "retain-uids"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_INSTITUTION_IDENTITY = "retain-institution-identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_LONG_FULL_DATES = "retain-long-full-dates"
    RETAIN_LONG_MODIFIED_DATES = "retain-long-modified-dates"
    CLEAN_DESCRIPTORS = "clean-descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean-structured-content"
    CLEAN_GRAPHICS = "clean-graphics"

    @property
    def column(self) -> str:
        return _COLUMNS[self]

    @property
    def code_value(self) -> str:
        """The option's code in CID 7050 (scheme DCM), from pydicom's code dictionary."""
        return _code_values()[self]


_COLUMNS = {
    Option.RETAIN_SAFE_PRIVATE: "rtnSafePrivOpt",
    Option.RETAIN_UIDS: "rtnUIDsOpt",
    Option.RETAIN_DEVICE_IDENTITY: "rtnDevIdOpt",
    Option.RETAIN_INSTITUTION_IDENTITY: "rtnInstIdOpt",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "rtnPatCharsOpt",
    Option.RETAIN_LONG_FULL_DATES: "rtnLongFullDatesOpt",
    Option.RETAIN_LONG_MODIFIED_DATES: "rtnLongModifDatesOpt",
    Option.CLEAN_DESCRIPTORS: "cleanDescOpt",
    Option.CLEAN_STRUCTURED_CONTENT: "cleanStructContOpt",
    Option.CLEAN_GRAPHICS: "cleanGraphOpt",
}


_MEANINGS = {
    Option.RETAIN_SAFE_PRIVATE: "Retain Safe Private Option",
    Option.RETAIN_UIDS: "Retain UIDs Option",
    Option.RETAIN_DEVICE_IDENTITY: "Retain Device Identity Option",
    Option.RETAIN_INSTITUTION_IDENTITY: "Retain Institution Identity Option",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "Retain Patient Characteristics Option",
    Option.RETAIN_LONG_FULL_DATES: "Retain Longitudinal Temporal Information Full Dates Option",
    Option.RETAIN_LONG_MODIFIED_DATES: (
        "Retain Longitudinal Temporal Information Modified Dates Option"
    ),
    Option.CLEAN_DESCRIPTORS: "Clean Descriptors Option",
    Option.CLEAN_STRUCTURED_CONTENT: "Clean Structured Content Option",
    Option.CLEAN_GRAPHICS: "Clean Graphics Option",
}


@functools.cache
def _code_values() -> dict[Option, str]:
    """Looked up in the generated code dictionary (:mod:`pacsaudit.measure.codes`) by the
    option's CID 7050 meaning: pydicom's own code dictionary takes most of a second to import,
    which every process would otherwise pay at start-up."""
    return {opt: dcm_code(meaning).value for opt, meaning in _MEANINGS.items()}


class TableRow(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One row of the source JSON exactly as published; unknown columns fail loudly."""

    tag: str
    name: str
    id: str
    stdCompIOD: str
    basicProfile: str
    rtnSafePrivOpt: str | None = None
    rtnUIDsOpt: str | None = None
    rtnDevIdOpt: str | None = None
    rtnInstIdOpt: str | None = None
    rtnPatCharsOpt: str | None = None
    rtnLongFullDatesOpt: str | None = None
    rtnLongModifDatesOpt: str | None = None
    cleanDescOpt: str | None = None
    cleanStructContOpt: str | None = None
    cleanGraphOpt: str | None = None


def parse_rows(data: bytes) -> list[TableRow]:
    """Decode and validate the published JSON (actions within the PS3.15 vocabulary)."""
    rows = msgspec.json.decode(data, type=list[TableRow])
    for row in rows:
        actions = [row.basicProfile] + [
            v for column in _COLUMNS.values() if (v := getattr(row, column)) is not None
        ]
        for compound in actions:
            if not set(compound.replace("*", "").split("/")) <= ACTIONS:
                raise ValueError(f"{row.tag}: unknown action {compound!r}")
    return rows


class Pattern(enum.Enum):
    """How a row's tag matches elements: exactly, or as one of the standard's repeating forms."""

    EXACT = "exact"
    CURVE_GROUP = "50xx,xxxx"
    OVERLAY = "60xx,eeee"
    PRIVATE = "odd group"


@dataclass(frozen=True, slots=True)
class ProfileAttribute:
    """One attribute of Table E.1-1.

    ``basic`` is the Basic Profile action as published (possibly compound, e.g. ``X/Z/D``);
    ``options`` maps each option that changes it to its action (``K`` or ``C``).
    """

    tag: str
    """As printed in the standard, e.g. ``(0010,0010)`` or ``(60XX,3000)``."""
    keyword: str
    """pydicom's keyword; for the repeating rows, the name in CamelCase (``OverlayData``)."""
    name: str
    basic: str
    options: Mapping[Option, str]
    in_standard_iod: bool
    pattern: Pattern = Pattern.EXACT
    value: int | None = None
    """The tag as an int for exact rows; the element for overlay rows."""

    def action(self, selected: Iterable[Option] = ()) -> str:
        """The action once the selected options apply: retaining (``K``) beats cleaning (``C``),
        which beats the basic action, since each option only ever retains more."""
        found = {self.options[o] for o in selected if o in self.options}
        if "K" in found:
            return "K"
        if "C" in found:
            return "C"
        return self.basic

    def matches(self, tag: int) -> bool:
        group, element = tag >> 16, tag & 0xFFFF
        if self.pattern is Pattern.EXACT:
            return tag == self.value
        if self.pattern is Pattern.CURVE_GROUP:
            return is_curve_group(group)
        if self.pattern is Pattern.OVERLAY:
            return is_overlay_group(group) and element == self.value
        return group % 2 == 1


def resolve(action: str) -> str:
    """One action for a compound one, without per-IOD type information: the member that keeps
    any IOD conformant (``U``, else ``D``, else ``Z``), never one that removes less."""
    parts = action.replace("*", "").split("/")
    if len(parts) == 1:
        return parts[0]
    for preferred in ("U", "D", "Z"):
        if preferred in parts:
            return preferred
    return parts[0]


def declared_options(ds: Dataset) -> frozenset[Option] | None:
    """The options a de-identified dataset declares in its De-identification Method Code
    Sequence (0012,0064); None when Patient Identity Removed (0012,0062) is not YES."""
    if str(ds.get("PatientIdentityRemoved", "") or "").strip().upper() != "YES":
        return None
    by_code = {opt.code_value: opt for opt in Option}
    found = set()
    for item in ds.get("DeidentificationMethodCodeSequence", None) or []:
        opt = by_code.get(str(item.get("CodeValue", "")))
        if opt is not None and str(item.get("CodingSchemeDesignator", "")) == "DCM":
            found.add(opt)
    return frozenset(found)


def is_curve_group(group: int) -> bool:
    """Repeating groups 5000-501E (PS3.5 7.6)."""
    return 0x5000 <= group <= 0x501E and group % 2 == 0


def is_overlay_group(group: int) -> bool:
    """Repeating groups 6000-601E (PS3.5 7.6)."""
    return 0x6000 <= group <= 0x601E and group % 2 == 0


def _camel(name: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in name.replace("'", "").split())


def _attribute(row: TableRow) -> ProfileAttribute:
    # _COLUMNS, not Option and its .column: the same order, without an enum walk and a
    # property per option and row (621 rows: 2-5 ms of every start-up that loads the table)
    options = {
        opt: v for opt, column in _COLUMNS.items() if (v := getattr(row, column)) is not None
    }
    text = row.tag.upper()
    pattern, value = Pattern.EXACT, None
    if text.startswith("(GGGG,EEEE)"):
        pattern, keyword = Pattern.PRIVATE, PRIVATE_KEYWORD
    elif text.startswith("(50XX,"):
        pattern, keyword = Pattern.CURVE_GROUP, _camel(row.name)
    elif text.startswith("(60XX,"):
        pattern, keyword, value = Pattern.OVERLAY, _camel(row.name), int(text[6:10], 16)
    else:
        value = int(text[1:5] + text[6:10], 16)
        keyword = keyword_for_tag(value) or _camel(row.name)
    return ProfileAttribute(
        tag=row.tag,
        keyword=keyword,
        name=row.name,
        basic=row.basicProfile,
        options=options,
        in_standard_iod=row.stdCompIOD == "Y",
        pattern=pattern,
        value=value,
    )


@dataclass(frozen=True)
class AnnexETable:
    """The whole table with the look-ups the hot paths need (one dict probe per element)."""

    attributes: tuple[ProfileAttribute, ...]
    provenance: Mapping[str, object]
    by_tag: Mapping[int, ProfileAttribute] = field(init=False)
    by_keyword: Mapping[str, ProfileAttribute] = field(init=False)
    _overlay: Mapping[int, ProfileAttribute] = field(init=False)
    _curve: ProfileAttribute | None = field(init=False)
    _private: ProfileAttribute | None = field(init=False)

    def __post_init__(self) -> None:
        exact = {a.value: a for a in self.attributes if a.pattern is Pattern.EXACT}
        overlay = {a.value: a for a in self.attributes if a.pattern is Pattern.OVERLAY}
        curve = [a for a in self.attributes if a.pattern is Pattern.CURVE_GROUP]
        private = [a for a in self.attributes if a.pattern is Pattern.PRIVATE]
        object.__setattr__(self, "by_tag", {k: v for k, v in exact.items() if k is not None})
        object.__setattr__(self, "_overlay", {k: v for k, v in overlay.items() if k is not None})
        object.__setattr__(self, "_curve", curve[0] if curve else None)
        object.__setattr__(self, "_private", private[0] if private else None)
        object.__setattr__(self, "by_keyword", {a.keyword: a for a in self.attributes})

    def lookup(self, tag: int) -> ProfileAttribute | None:
        """The row that governs ``tag``, including the repeating-group and private rows."""
        found = self.by_tag.get(tag)
        if found is not None:
            return found
        group = tag >> 16
        if group % 2 == 1:
            return self._private
        if is_curve_group(group):
            return self._curve
        if is_overlay_group(group):
            return self._overlay.get(tag & 0xFFFF)
        return None

    @property
    def edition(self) -> str:
        """A one-line statement of where the table came from, for reports and method text."""
        sha = str(self.provenance.get("sha256", ""))[:12]
        return f"PS3.15 Table E.1-1 ({len(self.attributes)} attributes, sha256 {sha})"


def _data_dir() -> resources.abc.Traversable:
    return resources.files("pacsaudit.data").joinpath("annex_e")


@functools.cache
def load_table() -> AnnexETable:
    """The packaged table, parsed once per process."""
    folder = _data_dir()
    rows = parse_rows(folder.joinpath(TABLE_FILE).read_bytes())
    provenance = json.loads(folder.joinpath(PROVENANCE_FILE).read_text(encoding="utf-8"))
    return AnnexETable(tuple(_attribute(r) for r in rows), provenance)
