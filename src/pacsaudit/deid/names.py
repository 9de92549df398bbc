"""A file's own identifiers, and their removal from free text, in every script.

The last pass of the profile removes from every text value left the words that made up this
file's identifiers (names, IDs, addresses, dates). Words are matched whole, which suits scripts
that separate words with spaces. Chinese, Japanese, Korean (Hangul attaches particles to the
name: 김민준이), Thai, Lao, Khmer and Myanmar do not: there a name is matched character for
character wherever it appears, and since their names are often one or two characters long
(김, 山田), no minimum length applies. In spaced scripts a name component needs 2 letters and
any other identifier word 3, so that an initial or a house number does not erase every "J" or
"12" of a description.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul Jamo
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
_WORD = re.compile(rf"[^\W_{_UNSPACED}]+")
"""Letters and digits of spaced scripts: "_" and any unspaced character end a word."""
_RUN = re.compile(rf"[{_UNSPACED}]+")
_DATE_IN_TEXT = re.compile(
    r"(?<!\d)(?:(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})|(\d{2})[./](\d{2})[./](\d{4}))(?!\d)"
)
_MIN_WORD = 3
_MIN_NAME_WORD = 2
_SCRUBBED = "*"
_DATE_VRS = frozenset({"DA", "DT"})


class Identifiers:
    """The words, dates and unspaced runs of one file's identifiers; never leaves the process."""

    __slots__ = ("_ordered", "runs", "words")

    def __init__(self) -> None:
        self.words: set[str] = set()
        """Lower-cased words of spaced scripts, and dates as YYYYMMDD."""
        self.runs: set[str] = set()
        """Runs of unspaced scripts, matched as substrings."""
        self._ordered: list[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.words or self.runs)

    @property
    def ascii(self) -> bool:
        """Whether every identifier is ASCII (then undecoded UTF-8 bytes can be prescreened)."""
        return not self.runs and all(w.isascii() for w in self.words)

    def add(self, values: Iterable[object], vr: str) -> None:
        """Collect the identifiers of one element's values."""
        self._ordered = None
        for v in values:
            text = str(v).strip()
            if vr in _DATE_VRS:
                if len(text) >= 8 and text[:8].isdigit():
                    self.words.add(text[:8])
            elif vr == "PN":
                self._name(text)
            else:
                self._text(text, _MIN_WORD)

    def _text(self, text: str, min_word: int) -> None:
        self.words.update(w for w in _WORD.findall(text.lower()) if len(w) >= min_word)
        self.runs.update(_RUN.findall(text))

    def _name(self, text: str) -> None:
        """A person name: every component of every group (alphabetic, ideographic,
        phonetic), and in unspaced scripts also family and given name written together, as
        they are in running text (山田太郎, 김민준)."""
        for group in text.split("="):
            components = group.split("^")
            for component in components:
                self._text(component, _MIN_NAME_WORD)
            family, given = [*components, "", ""][:2]
            if _RUN.fullmatch(family) and _RUN.fullmatch(given):
                self.runs.update({family + given, given + family})

    def clean(self, text: str) -> str:
        """``text`` with each identifier word, written date and unspaced run replaced by *."""

        def date(m: re.Match[str]) -> str:
            y, mo, d = (m[1], m[2], m[3]) if m[1] else (m[6], m[5], m[4])
            return _SCRUBBED if f"{y}{mo}{d}" in self.words else m[0]

        def word(m: re.Match[str]) -> str:
            return _SCRUBBED if m[0].lower() in self.words else m[0]

        text = _WORD.sub(word, _DATE_IN_TEXT.sub(date, text))
        if self.runs:
            if self._ordered is None:  # longest first: 山田太郎 before 山田
                self._ordered = sorted(self.runs, key=len, reverse=True)
            for run in self._ordered:
                if run in text:
                    text = text.replace(run, _SCRUBBED)
        return text
