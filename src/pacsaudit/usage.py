"""The project's base exception and the one bad user input raises, importing nothing.

Apart from :mod:`pacsaudit.errors` (which re-exports both): that module maps the scanner's
exceptions to statuses and loads ``ssl``, ``socket`` and the finding model to do it, which a
command working on files (``inspect``, ``deid``) never needs but would pay for at start-up.
"""

from __future__ import annotations


class PacsauditError(Exception):
    """Base of the project's own exceptions."""


class UsageError(PacsauditError):
    """Bad user input (targets, ports, files); reported as one line before any scanning."""
