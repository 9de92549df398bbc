"""Which text a de-identified file may keep without the Annex E table naming it.

Table E.1-1 lists the attributes the standard knows to identify; files carry free text in many
more (a PDF's Document Title, a Referenced File ID, a Code Meaning typed by a technologist, an
SR's Text Value). So the profile denies by default: every element of a text-bearing VR that
the table does not name is dummied, in every sequence at every depth, unless it is listed here
as structural. An element is structural when the standard defines what its value is (a code, a
product name, a registered media type, a unit), so that it describes the equipment or the
encoding and never the patient. Each entry gives its reason. The last pass still removes this
file's identifiers from these values, as from every text left.

Sources: PS3.3 (the modules named per entry) and PS3.10 7.1 (file meta information).
"""

from __future__ import annotations

from collections.abc import Mapping

FREE_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "AE", "UR"})
"""VRs whose values are whatever someone typed (PN is handled apart: every name is emptied)."""

STRUCTURAL_TEXT: Mapping[int, str] = {
    0x00080100: "Code Value: a code of a coding scheme (PS3.3 8.1), not free text",
    0x00080102: "Coding Scheme Designator: names the scheme (PS3.16 8), not a person",
    0x00080103: "Coding Scheme Version: a version string of that scheme",
    0x00080119: "Long Code Value: a code too long for Code Value (PS3.3 8.1)",
    0x00080120: "URN Code Value: a code written as a URN (PS3.3 8.1)",
    0x00080070: "Manufacturer (General Equipment, C.7.5.1): who made the device",
    0x00081090: "Manufacturer's Model Name (C.7.5.1): the product, not the site",
    0x00181020: "Software Versions (C.7.5.1): the device's software release",
    0x00181016: "Secondary Capture Device Manufacturer (C.8.6.1): who made the software",
    0x00181018: "Secondary Capture Device Manufacturer's Model Name (C.8.6.1)",
    0x00181019: "Secondary Capture Device Software Versions (C.8.6.1)",
    0x00281054: "Rescale Type (C.11.1): units of the rescaled values, defined terms (HU, US)",
    0x00420012: "MIME Type of Encapsulated Document (C.24.2): a registered media type",
    0x00181210: "Convolution Kernel (C.8.2.1): the reconstruction filter's vendor name",
    0x00180024: "Sequence Name (C.8.3.1): the MR pulse sequence as the scanner names it",
    0x00189005: "Pulse Sequence Name (C.8.13.4): the same, in enhanced MR",
}
"""Tag to the reason its value is structural."""

CODE_MEANING = 0x00080104
"""Code Meaning: replaced by the coding scheme's own meaning of the code (or dummied)."""
CODE_VALUE = 0x00080100
CODING_SCHEME_DESIGNATOR = 0x00080102

NAME_BEARING_CS: Mapping[int, str] = {
    0x00041500: "Referenced File ID: path components, often a patient's name or ID",
    0x00041130: "File-set ID: a label the creator chose for the media",
    0x00041141: "File-set Descriptor File ID: a path in the file-set",
    0x00700080: "Content Label (C.10.9): a label someone typed for a presentation state",
}
"""CS elements, otherwise enumerated or defined terms, whose values are chosen freely."""

FILE_META_KEPT: Mapping[int, str] = {
    0x00020000: "File Meta Information Group Length: recomputed when written",
    0x00020001: "File Meta Information Version",
    0x00020002: "Media Storage SOP Class UID: what the file is",
    0x00020003: "Media Storage SOP Instance UID: replaced like the SOP Instance UID",
    0x00020010: "Transfer Syntax UID: how the data set is encoded",
    0x00020012: "Implementation Class UID: the writing software",
    0x00020013: "Implementation Version Name: the writing software's version",
}
"""File meta elements (PS3.10 7.1) kept; every other one is removed (all are Type 3)."""

FILE_META_DEVICE = frozenset({0x00020016, 0x00020017, 0x00020018})
"""Source, Sending and Receiving Application Entity Titles: device identity, kept only with
Retain Device Identity (PS3.15 E.3.4), like every other AE title of the table."""
