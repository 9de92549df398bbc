"""The one keyed-secret module: key files, and keyed hashes of identifiers.

Every secret pacsaudit keeps (the scanner's patient-hash key, the deid key) is a key file
loaded or created by :func:`load_or_create_key`; every keyed hash is an HMAC-SHA-256 under one
of them: :class:`KeyedHasher` counts distinct patients (and, with :meth:`KeyedHasher.hash_in`,
studies or series) without keeping who they are, and :func:`keyed_digest` is the primitive the
deid pseudonyms are made from.

Why keyed: a Patient ID space is small (often a few million sequential numbers), so a plain
hash, even salted in the open, is reversed by hashing every candidate. HMAC-SHA-256 with a
256-bit secret that never leaves the user's config folder cannot be: without the key, every
candidate ID is as likely as any other. The output is truncated to 64 bits — enough to tell
patients apart (collisions become likely only around 2^32 patients), too short to be useful as
an identifier in its own right. Hashes made with the same key are comparable across services and
across scans; ``key_id`` says which key made them, without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from pacsaudit.usage import UsageError

KEY_BYTES = 32
HASH_BYTES = 8
KEY_FILE_NAME = "patient-hash.key"


class KeyFileError(UsageError):
    """The key file cannot be used (unreadable, malformed, shared with others, its folder not
    creatable): a one-line error for the user, whichever command needs the key."""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pacsaudit"


def default_key_path() -> Path:
    return config_dir() / KEY_FILE_NAME


def load_or_create_key(path: Path | None = None) -> bytes:
    """Read the secret, creating it (mode 0600, in a 0700 folder) on first use; a key file
    readable by group or others is refused, since its holder can test guesses against the
    hashes. Every failure is a KeyFileError with one clear line."""
    path = path or default_key_path()
    try:
        return _load_or_create(path)
    except KeyFileError:
        raise
    except OSError as exc:  # e.g. a folder on the way that may not be searched
        reason = exc.strerror or exc.__class__.__name__
        raise KeyFileError(f"cannot use the key file {path}: {reason}") from None


def _load_or_create(path: Path) -> bytes:
    if not path.exists():
        _create_key(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:  # binary: some other file was named
        raise KeyFileError(f"the key file {path} does not hold a hex key") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise KeyFileError(f"cannot read the key file {path}: {reason}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the key file {path} is readable by others: chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"the key file {path} does not hold a hex key") from None
    if len(key) < 16:
        raise KeyFileError(f"the key in {path} is shorter than 128 bits")
    return key


def _create_key(path: Path) -> None:
    """A new random key, mode 0600 in a 0700 folder; a folder that cannot be made is a
    KeyFileError (one clear line), not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        if exc.filename is not None and Path(exc.filename) == path:
            return  # created by a concurrent run: read theirs
        raise KeyFileError(
            f"cannot create the key file {path}: {path.parent} is not a folder"
        ) from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise KeyFileError(f"cannot create the key file {path}: {reason}") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")


def keyed_digest(key: bytes, domain: bytes, value: bytes) -> bytes:
    """HMAC-SHA-256 of ``value`` under ``key`` in its own ``domain`` (one domain per kind of
    value, so that two kinds never share a hash)."""
    return hmac.digest(key, domain + b"\0" + value, "sha256")


class KeyedHasher:
    __slots__ = ("_key", "_raw", "key_id")

    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, b"pacsaudit patient-id v1", hashlib.sha256).digest()
        self._raw = key
        self.key_id = hashlib.sha256(b"pacsaudit key id v1" + key).hexdigest()[:16]
        """Which key made a hash: equal ids mean comparable hashes; the key stays secret."""

    def hash(self, value: bytes) -> str:
        """64-bit keyed hash (hex) of an identifier's bytes, padding stripped."""
        normalised = value.strip(b" \0")
        return hmac.new(self._key, normalised, hashlib.sha256).digest()[:HASH_BYTES].hex()

    def hash_in(self, domain: str, value: str) -> str:
        """A 96-bit keyed hash (hex) of ``value`` in ``domain``: distinct studies or series
        counted without keeping their UIDs."""
        return keyed_digest(self._raw, domain.encode(), value.encode("utf-8", "replace"))[:12].hex()

    def __repr__(self) -> str:  # never show the key, not even in a debugger's repr
        return f"KeyedHasher(key_id={self.key_id})"
