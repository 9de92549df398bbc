"""Checks on a path the user names for writing, made before any work is done.

Shared by ``scan -o`` and the ``inspect``/``deid`` record outputs, and kept free of heavy
imports: ``scan`` pays for every module it loads on each start.
"""

from __future__ import annotations

import os
from pathlib import Path

from pacsaudit.usage import UsageError


def check_creatable(path: Path) -> None:
    """The nearest existing ancestor must be a folder we may write in (parents are created);
    otherwise one clear UsageError instead of a failure after the work was done."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"cannot write {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: permission denied in {ancestor}")
