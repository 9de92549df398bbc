"""Burned-in annotation risk: pixel data that may show names or dates as text.

Header cleaning cannot reach text drawn into the pixels, so every file where such text is
declared or likely must be looked at by a person. The header tells us two things: Burned In
Annotation (0028,0301) when the device filled it, and the kind of image, since some
modalities and SOP classes carry burned-in text as a rule (ultrasound, secondary capture,
endoscopy and some angiography screens).
"""

from __future__ import annotations

import enum

from pydicom.dataset import Dataset
from pydicom.uid import UID

TEXT_PRONE_MODALITIES = frozenset({"US", "SC", "XA", "ES", "OT", "XC", "GM", "DOC"})
"""Modalities (PS3.3 C.7.3.1.1.1) whose images commonly show patient text in the pixels."""


class BurnedIn(enum.StrEnum):
    DECLARED = "declared"
    """Burned In Annotation is YES."""
    LIKELY = "likely"
    """Not declared either way, but the modality or SOP class usually carries burned-in text."""
    DECLARED_NONE = "declared-none"
    """Burned In Annotation is NO."""
    UNLIKELY = "unlikely"
    """Not declared, and nothing about the image suggests text in the pixels."""

    @property
    def needs_review(self) -> bool:
        return self in (BurnedIn.DECLARED, BurnedIn.LIKELY)


def _text_prone_sop_class(uid: str) -> bool:
    name = UID(uid).name if uid else ""
    return "Secondary Capture" in name or "Endoscop" in name or "Video" in name


def burned_in_risk(ds: Dataset) -> BurnedIn:
    """Classify from header attributes only; no pixel is read."""
    declared = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if declared == "YES":
        return BurnedIn.DECLARED
    if declared == "NO":
        return BurnedIn.DECLARED_NONE
    modality = str(ds.get("Modality", "") or "").strip().upper()
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if modality in TEXT_PRONE_MODALITIES or _text_prone_sop_class(sop_class):
        return BurnedIn.LIKELY
    return BurnedIn.UNLIKELY
