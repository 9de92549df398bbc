"""Whether a file's path names its patient: folders called ``DOE_JOHN`` or ``12345678_CT``.

A share or an export whose folders carry patients' names leaks them to anyone who can list it,
before a single file is read, and a de-identified mirror would copy them. This compares the
words of a path with the words of the file's own Patient's Name and Patient ID, and answers
yes or no: no word of either is kept.

Matching is by whole words (letters and digits split on everything else), case-insensitive:
a family or given name of three letters or more, or a Patient ID of four characters or more.
Words that are names of no one (``anonymous``, ``unknown``, ``patient``) never match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.dataset import Dataset

_WORD = re.compile(r"[0-9a-z]+")
_NOBODY = frozenset(
    {"anon", "anonymous", "anonymized", "anonymised", "unknown", "patient", "test", "none",
     "null", "phantom", "demo", "sample", "removed", "deidentified"}
)  # fmt: skip


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def patient_words(ds: Dataset) -> set[str]:
    """The words of the patient's name (3+ letters) and ID (4+ characters) in ``ds``."""
    found: set[str] = set()
    name = ds.get("PatientName")
    if name is not None:
        found |= {w for w in _words(str(name)) if len(w) >= 3 and not w.isdigit()}
    patient_id = str(ds.get("PatientID", "") or "")
    found |= {w for w in _words(patient_id) if len(w) >= 4}
    return found - _NOBODY


def path_names_patient(parts: Iterable[str], ds: Dataset) -> bool:
    """True when a word of a folder or file name in ``parts`` is the patient's name or ID."""
    wanted = patient_words(ds)
    if not wanted:
        return False
    return any(not wanted.isdisjoint(_words(part)) for part in parts)
