"""Whether a file's path names its patient: folders called ``DOE_JOHN``, ``DoeJohn`` or
``12345678_CT``.

A share or an export whose folders carry patients' names leaks them to anyone who can list it,
before a single file is read, and a de-identified mirror would copy them. This compares the
words of a path with the words of the file's own Patient's Name and Patient ID, and answers
yes or no: no word of either is kept.

Words are runs of letters or of digits in any script, split also where lower case turns to
upper (``DoeJohn``) and where letters meet digits (``DOE12345678``), compared case- and
accent-insensitively (``Müller`` is ``muller``). A name matches by a family or given name of
three letters or more anywhere in the path; a Patient ID of six characters or more only in the
folders (file names are full of counters: ``IM-000123-0001.dcm``). Words that are names of no
one (``anonymous``, ``unknown``, ``patient``) never match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pydicom.dataset import Dataset

_RUN = re.compile(r"[^\W\d_]+|\d+")
_CAMEL = re.compile(r"(?<=[a-zà-ÿ])(?=[A-ZÀ-Þ])")
MIN_NAME = 3
MIN_ID = 6
_NOBODY = frozenset(
    {"anon", "anonymous", "anonymized", "anonymised", "unknown", "patient", "test", "none",
     "null", "phantom", "demo", "sample", "removed", "deidentified"}
)  # fmt: skip


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> set[str]:
    """The words of ``text`` as compared here (folded, split at case and digit changes)."""
    return {_fold(w) for w in _RUN.findall(_CAMEL.sub(" ", text))}


def _name_words(ds: Dataset) -> set[str]:
    name = ds.get("PatientName")
    if name is None:
        return set()
    return {w for w in words(str(name)) if len(w) >= MIN_NAME and not w.isdigit()} - _NOBODY


def _id_words(ds: Dataset) -> set[str]:
    patient_id = str(ds.get("PatientID", "") or "")
    return {w for w in words(patient_id) if len(w) >= MIN_ID} - _NOBODY


def patient_words(ds: Dataset) -> set[str]:
    """The words of the patient's name and ID in ``ds`` that a path would be matched on."""
    return _name_words(ds) | _id_words(ds)


def path_names_patient(parts: Sequence[str], ds: Dataset) -> bool:
    """True when a folder or file name in ``parts`` (the last is the file's own) holds a
    word of the patient's name, or a folder holds the patient's ID."""
    names, ids = _name_words(ds), _id_words(ds)
    if not names and not ids:
        return False
    for i, part in enumerate(parts):
        found = words(part)
        if not names.isdisjoint(found):
            return True
        if i < len(parts) - 1 and not ids.isdisjoint(found):
            return True
    return False
