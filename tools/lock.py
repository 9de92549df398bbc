"""Write ``requirements.lock``: every package of the development environment, pinned and hashed.

The lock holds the runtime dependencies, the ``lab`` and ``dev`` extras (linters and type
checker included) and the build backend (``requirements/build.in``), resolved by
``uv pip compile --universal --generate-hashes`` so that one file serves every platform the
project supports. uv itself is pinned apart (``requirements/uv.in`` → ``requirements/uv.txt``):
the Makefile installs it with pip, hashes required, and then installs the lock with it.
``pyproject.toml`` keeps its ranges for people who install pacsaudit into an environment of
their own; the Makefile installs only from the lock, hashes required.

The first line of the lock records a digest of everything it was resolved from. The tests
compare it with the digest of today's ``pyproject.toml`` and ``build.in``, and check that every
requirement there is satisfied by a pin here, so a dependency change without ``make lock``
cannot land.

Usage::

    python tools/lock.py --uv PATH/TO/uv     # resolve again and rewrite the lock (make lock)
    python tools/lock.py --check             # exit 1 if the lock is stale (no network)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
BUILD_IN = ROOT / "requirements" / "build.in"
UV_IN = ROOT / "requirements" / "uv.in"
LOCK = ROOT / "requirements.lock"
# uv itself, pinned and hashed apart: the Makefile installs it with pip before anything else.
UV_LOCK = ROOT / "requirements" / "uv.txt"
# The oldest Python the project supports (requires-python): the lock is resolved for it, and its
# markers cover the newer ones.
PYTHON_VERSION = "3.11"
EXTRAS = ("dev",)
DIGEST_PREFIX = "# input-sha256: "
# ``name==version ; marker \`` — the marker and the continuation are optional
_PIN = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$"
)


@dataclass(frozen=True)
class Pin:
    """One ``name==version`` line of the lock, with its environment marker and hash count."""

    name: str
    version: str
    marker: str | None
    hashes: int


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: ``Foo_Bar`` and ``foo-bar`` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines() -> list[str]:
    """Everything the lock is resolved from, in a fixed order: runtime, every extra, build."""
    project = tomllib.loads(PYPROJECT.read_text("utf-8"))
    lines = list(project["project"]["dependencies"])
    for extra, reqs in sorted(project["project"].get("optional-dependencies", {}).items()):
        lines += [f"[{extra}] {req}" for req in reqs]
    lines += [f"[build-system] {req}" for req in project["build-system"]["requires"]]
    for source in (BUILD_IN, UV_IN):
        for raw in source.read_text("utf-8").splitlines():
            text = raw.split("#", 1)[0].strip()
            if text:
                lines.append(f"[{source.name}] {text}")
    return lines


def input_digest() -> str:
    """SHA-256 of the inputs and of the resolver settings: a change to either stales the lock."""
    payload = {
        "requirements": requirement_lines(),
        "python": PYTHON_VERSION,
        "extras": list(EXTRAS),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def recorded_digest(text: str) -> str | None:
    first = text.splitlines()[0] if text else ""
    return first[len(DIGEST_PREFIX) :].strip() if first.startswith(DIGEST_PREFIX) else None


def parse_pins(text: str) -> dict[str, Pin]:
    """The pins of a lock in ``requirements.txt`` form (a pin line, then its ``--hash`` lines)."""
    pins: dict[str, Pin] = {}
    current: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--hash=") and current is not None:
            pin = pins[current]
            pins[current] = Pin(pin.name, pin.version, pin.marker, pin.hashes + 1)
            continue
        match = _PIN.match(stripped)
        if match:
            name, version, marker = match.groups()
            current = canonical_name(name)
            pins[current] = Pin(current, version, marker.strip() if marker else None, 0)
        elif stripped and not stripped.startswith("#"):
            current = None
    return pins


def _compile(uv: str, *sources: Path, extras: tuple[str, ...] = ()) -> str:
    command = [
        uv,
        "pip",
        "compile",
        *[str(source.relative_to(ROOT)) for source in sources],
        *[arg for extra in extras for arg in ("--extra", extra)],
        "--universal",
        "--generate-hashes",
        "--python-version",
        PYTHON_VERSION,
        "--no-header",
        "--quiet",
    ]
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def compile_lock(uv: str) -> str:
    """Resolve with uv and return the lock's text, its digest line first."""
    resolved = _compile(uv, PYPROJECT, BUILD_IN, extras=EXTRAS)
    header = (
        f"{DIGEST_PREFIX}{input_digest()}\n"
        "# Generated by `make lock` (tools/lock.py: uv pip compile --universal --generate-hashes)\n"
        "# from pyproject.toml (runtime, every extra) and requirements/build.in. Do not edit.\n"
    )
    return header + resolved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    parser.add_argument("--uv", default="uv", help="the uv executable that resolves")
    args = parser.parse_args(argv)
    if args.check:
        text = LOCK.read_text("utf-8") if LOCK.exists() else ""
        if recorded_digest(text) != input_digest():
            print(f"{LOCK.name} is stale: run make lock", file=sys.stderr)
            return 1
        return 0
    UV_LOCK.write_text(_compile(args.uv, UV_IN), "utf-8")
    LOCK.write_text(compile_lock(args.uv), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
