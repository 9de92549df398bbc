"""The lock file: complete, hashed, in step with ``pyproject.toml``, and what is installed.

A stale lock fails here (and in ``make test``'s ``tools/lock.py --check`` step), so a change
of dependencies without ``make lock`` cannot land.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_tool()


@pytest.fixture(scope="module")
def pins(tool: ModuleType) -> dict[str, Any]:
    return tool.parse_pins((ROOT / "requirements.lock").read_text("utf-8"))


def declared() -> list[Requirement]:
    """Every requirement of pyproject.toml (runtime, extras, build) and requirements/*.in."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    texts = list(project["project"]["dependencies"])
    for reqs in project["project"]["optional-dependencies"].values():
        texts += reqs
    texts += project["build-system"]["requires"]
    for raw in (ROOT / "requirements" / "build.in").read_text("utf-8").splitlines():
        if raw.split("#", 1)[0].strip():
            texts.append(raw.split("#", 1)[0].strip())
    return [Requirement(text) for text in texts if not text.startswith("pacsaudit")]


def applies(marker: str | None, extra: str = "") -> bool:
    if marker is None:
        return True
    return Requirement(f"x; {marker}").marker.evaluate({**default_environment(), "extra": extra})


def test_lock_is_current(tool: ModuleType) -> None:
    text = (ROOT / "requirements.lock").read_text("utf-8")
    assert tool.recorded_digest(text) == tool.input_digest(), "run: make lock"
    assert tool.main(["--check"]) == 0


def test_every_declared_requirement_is_pinned_within_its_range(
    pins: dict[str, Any],
) -> None:
    for req in declared():
        pin = pins.get(load_tool().canonical_name(req.name))
        assert pin is not None, f"{req} is not in requirements.lock: run make lock"
        assert req.specifier.contains(pin.version, prereleases=True), (
            f"{req} but the lock pins {pin.version}"
        )


def test_every_pin_is_exact_and_hashed(pins: dict[str, Any]) -> None:
    assert len(pins) > 40  # the whole environment, not only the direct dependencies
    for pin in pins.values():
        assert pin.hashes >= 1, f"{pin.name} has no hash"
    uv_pins = load_tool().parse_pins((ROOT / "requirements" / "uv.txt").read_text("utf-8"))
    assert set(uv_pins) == {"uv"}
    assert all(pin.hashes >= 1 for pin in uv_pins.values())


def test_the_environment_is_the_lock(pins: dict[str, Any]) -> None:
    """What runs these tests was installed from the lock: every pin that applies here is the
    installed version (a different version means the venv was not made by the Makefile)."""
    checked = 0
    for pin in pins.values():
        if not applies(pin.marker):
            continue
        installed = importlib.metadata.version(pin.name)
        assert installed == pin.version, (
            f"{pin.name} {installed} installed, lock says {pin.version}"
        )
        checked += 1
    assert checked > 40


def test_a_changed_dependency_stales_the_lock(
    tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "pyproject.toml"
    shutil.copy(ROOT / "pyproject.toml", copy)
    monkeypatch.setattr(tool, "PYPROJECT", copy)
    before = tool.input_digest()
    copy.write_text(
        copy.read_text("utf-8").replace('"rich>=13",', '"rich>=13",\n    "left-pad>=1",'), "utf-8"
    )
    assert tool.input_digest() != before
    assert tool.main(["--check"]) == 1


def test_parse_pins_reads_markers_and_hashes(tool: ModuleType) -> None:
    text = (
        "# input-sha256: abc\n"
        "uvloop==0.23.0 ; sys_platform != 'win32' \\\n"
        "    --hash=sha256:aa \\\n"
        "    --hash=sha256:bb\n"
        "    # via pacsaudit\n"
        "Foo_Bar==1.0 \\\n"
        "    --hash=sha256:cc\n"
    )
    pins = tool.parse_pins(text)
    assert pins["uvloop"].marker == "sys_platform != 'win32'"
    assert pins["uvloop"].hashes == 2
    assert pins["foo-bar"].version == "1.0"
    assert pins["foo-bar"].hashes == 1
    assert tool.recorded_digest(text) == "abc"
