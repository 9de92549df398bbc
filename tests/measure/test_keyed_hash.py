"""The keyed Patient ID hash and its key file."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

import pytest

from pacsaudit.measure.keyed_hash import (
    KeyedHasher,
    KeyFileError,
    default_key_path,
    load_or_create_key,
)


def test_key_created_on_first_use_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "pacsaudit" / "patient-hash.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == key  # stable once created


def test_default_location_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_key_path() == tmp_path / "pacsaudit" / "patient-hash.key"


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("ab" * 32, 0o644, "readable by others"),
        ("not hex at all", 0o600, "does not hold a hex key"),
        ("abcd", 0o600, "shorter than 128 bits"),
    ],
)
def test_unusable_key_files_are_refused(
    tmp_path: Path, content: str, mode: int, message: str
) -> None:
    path = tmp_path / "key"
    path.write_text(content)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match=message) as info:
        load_or_create_key(path)
    assert content not in str(info.value) or len(content) < 8


def test_hash_is_keyed_truncated_and_padding_insensitive() -> None:
    key = bytes(range(32))
    hasher = KeyedHasher(key)
    h = hasher.hash(b"PAT-0001")
    assert len(h) == 16
    assert h == hasher.hash(b"PAT-0001 ") == hasher.hash(b"PAT-0001\x00")
    assert h != hasher.hash(b"PAT-0002")
    assert h != KeyedHasher(bytes(32)).hash(b"PAT-0001")
    # Not a plain hash of the ID: an attacker without the key cannot enumerate IDs.
    assert h != hashlib.sha256(b"PAT-0001").hexdigest()[:16]
    assert h != hmac.new(key, b"PAT-0001", hashlib.sha256).hexdigest()[:16]


def test_key_never_shown() -> None:
    key = b"\x11" * 32
    hasher = KeyedHasher(key)
    assert key.hex() not in repr(hasher)
    assert key.hex() not in hasher.key_id
    assert len(hasher.key_id) == 16
    assert KeyedHasher(key).key_id == hasher.key_id
