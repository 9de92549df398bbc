"""The de-identification key and everything derived from it.

Replacement UIDs, pseudonyms and per-patient date offsets are keyed hashes (HMAC-SHA256) of
the original values rather than random draws: the same key gives the same replacements in every
run, so a study de-identified in two batches stays one study, and no mapping table (which would
itself be PHI) has to be stored. The key is the secret: it lives in the user's config folder with
mode 0600 and is never written to an output.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from pacsaudit.measure.keyed_hash import config_dir, keyed_digest, load_or_create_key

__all__ = ["MAX_DAY_OFFSET", "Pseudonyms", "default_key_path", "load_or_create_key"]

MAX_DAY_OFFSET = 3650
"""Dates move back by 1 to this many days, one offset per patient."""

_UID_CACHE_LIMIT = 1 << 16


def default_key_path() -> Path:
    """Its own file beside the scanner's patient-hash key: a different secret for a different
    use, so sharing one never exposes the other."""
    return config_dir() / "deid.key"


_KEPT_SUFFIXES = frozenset({"dcm", "dicom", "dic", "ima"})
"""Suffixes that say only "DICOM": kept so viewers and scripts still find the files."""


class Pseudonyms:
    """Keyed replacements; each kind of value has its own HMAC domain."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._uids: dict[str, str] = {}

    def _mac(self, domain: bytes, value: str) -> bytes:
        return keyed_digest(self._key, domain, value.encode("utf-8", "replace"))

    def uid(self, value: str) -> str:
        """A ``2.25`` UID (PS3.5 B.2) derived from the original; at most 44 characters."""
        found = self._uids.get(value)
        if found is None:
            if len(self._uids) >= _UID_CACHE_LIMIT:
                self._uids.clear()
            found = f"2.25.{uuid.UUID(bytes=self._mac(b'uid', value)[:16], version=4).int}"
            self._uids[value] = found
        return found

    def token(self, value: str) -> str:
        """A 13-character upper-case pseudonym: fits SH, CS and AE and keeps linkage."""
        return base64.b32encode(self._mac(b"token", value)[:8]).decode("ascii").rstrip("=")

    def day_offset(self, patient: str) -> int:
        """Days (negative, never zero) by which this patient's dates move."""
        n = int.from_bytes(self._mac(b"date-offset", patient)[:4], "big")
        return -(1 + n % MAX_DAY_OFFSET)

    def path_name(self, name: str) -> str:
        """A folder or file name replaced by a keyed pseudonym (16 hex digits, the DICOM
        suffix kept): shares name folders after patients, and a mirror would copy them."""
        stem, dot, suffix = name.rpartition(".")
        keep = f".{suffix}" if dot and stem and suffix.lower() in _KEPT_SUFFIXES else ""
        # the name's own bytes: two Latin-1 names must not collapse into one replacement char
        mac = keyed_digest(self._key, b"path", os.fsencode(name))
        return mac[:8].hex() + keep

    def fingerprint(self) -> str:
        """Identifies the key (to refuse resuming a run with another key), reveals nothing."""
        return self._mac(b"fingerprint", "")[:8].hex()
