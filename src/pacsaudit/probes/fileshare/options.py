"""What the file-share probes (FTP, SMB, rsync) are told: their ports and the walk's bounds.

Kept apart from the probes so that the command line builds and validates the bounds without
importing aioftp, impacket or pydicom, which a scan of DICOM ports never needs.
"""

from __future__ import annotations

import msgspec

FTP_PORTS = (21,)
SMB_PORTS = (445,)
RSYNC_PORTS = (873,)

PREAMBLE = 128
MAGIC = b"DICM"
MAGIC_END = PREAMBLE + len(MAGIC)
"""Bytes needed to tell a DICOM Part 10 file from anything else: 132."""


class WalkOptions(msgspec.Struct, frozen=True):
    """Bounds of one target's walk (all shares together); validated before any packet."""

    max_depth: int = 8
    """Folder levels entered below a share's top folder."""
    max_entries: int = 10_000
    max_reads: int = 500
    """Files whose first bytes are read (DICOM magic, header samples, indicator contents)."""
    max_samples: int = 25
    """DICOM headers parsed for PHI attribute counts."""
    max_header_bytes: int = 64 * 1024
    """A header sample stops at Pixel Data or at this many bytes."""
    max_dicomdir_bytes: int = 4 * 1024 * 1024
    max_dicomdirs: int = 4
    max_shares: int = 16
    budget: float = 25.0
    """Seconds for the whole probe of one ip:port (login, listings, reads)."""
    read_timeout: float = 5.0
    connect_timeout: float = 3.0

    def validate(self) -> None:
        for name in ("max_depth", "max_entries", "max_shares"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1")
        for name in ("max_reads", "max_samples", "max_dicomdirs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name.replace('_', '-')} must not be negative")
        if self.max_header_bytes < MAGIC_END or self.max_dicomdir_bytes < MAGIC_END:
            raise ValueError(f"byte limits must be at least {MAGIC_END}")
        if self.budget <= 0 or self.read_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("budget and timeouts must be positive")
