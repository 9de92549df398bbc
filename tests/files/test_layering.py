"""The shared files package sits below inspect and deid, which never import each other's code.

Read from the source with ``ast`` (every import, at any depth of a module, so an import hidden
inside a function to dodge a cycle is found too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pacsaudit"


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.name] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden", "allowed"),
    [
        ("files", ("pacsaudit.inspection", "pacsaudit.deid"), ()),
        ("deid", ("pacsaudit.inspection",), ()),
        # the one reader of both commands' JSON Lines decodes deid's records too
        ("inspection", ("pacsaudit.deid",), ("pacsaudit.deid.records",)),
    ],
)
def test_layers(package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    for module, names in _imports(package).items():
        bad = {n for n in names if n.startswith(forbidden) and n not in allowed}
        assert not bad, f"{package}/{module} imports {sorted(bad)}"


def test_one_key_loader_and_one_keyed_primitive() -> None:
    """deid's key loader is the scanner's (one module holds every secret)."""
    from pacsaudit.deid import keys
    from pacsaudit.measure import keyed_hash

    assert keys.load_or_create_key is keyed_hash.load_or_create_key
    defined = {
        node.name
        for path in (SRC / "deid").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    assert "load_or_create_key" not in defined
