"""The DICOM probe's one exception family; peer bytes never raise anything else."""

from __future__ import annotations

from pacsaudit.errors import ProtocolError


class DicomProtocolError(ProtocolError):
    """The peer broke PS3.8 or a limit we set; ``code`` names the rule in a word or two."""


class NotDicomError(DicomProtocolError):
    """The first bytes from the peer are not a DICOM PDU at all (an HTTP server, say)."""

    def __init__(self, sample: bytes) -> None:
        super().__init__("not-dicom", "the peer's first bytes are not a DICOM PDU")
        self.sample = sample
