"""Shared fixtures: a canary corpus and a key file, both in temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsaudit.deid.canary import CanaryFile, write_corpus
from pacsaudit.deid.keys import load_or_create_key

CORPUS_FILES = 60


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CanaryFile]]:
    """A synthetic corpus, written once: tests must not modify it (they copy it if needed)."""
    root = tmp_path_factory.mktemp("canary-corpus")
    entries = write_corpus(root, CORPUS_FILES, patients=6)
    return root, entries


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "deid.key"
    load_or_create_key(path)
    return path


@pytest.fixture
def key(key_file: Path) -> bytes:
    return load_or_create_key(key_file)
