"""The de-identification key and everything derived from it.

Replacement UIDs, pseudonyms and per-patient date offsets are keyed hashes (HMAC-SHA256) of
the original values rather than random draws: the same key gives the same replacements in every
run, so a study de-identified in two batches stays one study, and no mapping table (which would
itself be PHI) has to be stored. The key is the secret: it lives in the user's config folder with
mode 0600 and is never written to an output.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import stat
import uuid
from pathlib import Path

from pacsaudit.errors import UsageError

KEY_BYTES = 32
MAX_DAY_OFFSET = 3650
"""Dates move back by 1 to this many days, one offset per patient."""

_UID_CACHE_LIMIT = 1 << 16


def default_key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pacsaudit" / "deid.key"


def load_or_create_key(path: Path | None = None) -> bytes:
    """Read the key, creating it (0600, in a 0700 folder) on first use.

    A key file readable by group or others is refused rather than used: anyone holding the key
    can test guesses of patient IDs against the pseudonyms.
    """
    path = path or default_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise UsageError(f"cannot read the key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"the key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise UsageError(f"the key file {path} is readable by others; run: chmod 600 {path}")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"the key file {path} does not hold a hex key") from None
    if len(key) < 16:
        raise UsageError(f"the key in {path} is shorter than 128 bits")
    return key


class Pseudonyms:
    """Keyed replacements; each kind of value has its own HMAC domain."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._uids: dict[str, str] = {}

    def _mac(self, domain: bytes, value: str) -> bytes:
        return hmac.digest(self._key, domain + b"\0" + value.encode("utf-8", "replace"), "sha256")

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

    def hash(self, domain: str, value: str) -> str:
        """A short keyed hash to count distinct values without keeping them."""
        return self._mac(domain.encode(), value)[:12].hex()

    def fingerprint(self) -> str:
        """Identifies the key (to refuse resuming a run with another key), reveals nothing."""
        return self._mac(b"fingerprint", "")[:8].hex()
