"""Executable DICOM files (CVE-2019-11687): a program hidden in the 128-byte preamble.

PS3.10 §7.1 leaves the preamble's content to the application, so a file can be a valid DICOM
image and, at the same time, a Windows PE program (``MZ`` at offset 0, the DOS header) or an
ELF one (``\\x7fELF``). Antivirus tools skip medical images, and the file carries real patient
data, so such a polyglot is malware hidden in the archive. The check needs only the preamble,
which every share walk and ``pacsaudit inspect`` already read: it costs no extra byte.
"""

from __future__ import annotations

EXECUTABLE_DICOM = "executable-dicom"
"""Indicator id and category of an executable preamble, counted apart from miners and notes."""
DESCRIPTION = "DICOM file whose preamble is a Windows PE or ELF program header (PE/DICOM polyglot)"
SOURCE = (
    "CVE-2019-11687 (NVD); Markel Picado Ortiz, Cylera Labs, 'HIPAA-protected malware' (2019); "
    "DICOM PS3.10 section 7.1 (the preamble's content is free)"
)
PREAMBLE = 128

# Magic numbers: PE files start with the MS-DOS header "MZ" (Microsoft PE format
# specification, "MS-DOS Stub"); ELF files with 0x7f 'E' 'L' 'F' (System V ABI, e_ident).
_MAGICS = ((b"\x7fELF", "elf"), (b"MZ", "pe"))


def executable_preamble(data: bytes) -> str | None:
    """``"pe"`` or ``"elf"`` when the first bytes of a DICOM file are an executable's header.

    Only the magic is checked: a DICOM preamble is all zeros or a TIFF header in practice, so
    ``MZ`` or ``\\x7fELF`` there has no innocent reason.
    """
    head = bytes(data[:PREAMBLE])
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return kind
    return None
