"""What of a patient record may leave the process: the Annex E model, presence counts,
burned-in risk. Counts and keyed hashes only, never a value.

The names below are loaded on first use: importing a submodule (``measure.keyed_hash`` for a
scan's Patient ID hashes, ``measure.severity``) must not import pydicom with the Annex E table.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pacsaudit.measure.annex_e import (
        PRIVATE_KEYWORD,
        AnnexETable,
        Option,
        ProfileAttribute,
        load_table,
    )
    from pacsaudit.measure.burned_in import BurnedIn, burned_in_risk
    from pacsaudit.measure.presence import count_present, is_empty_value

_HOMES = {
    "PRIVATE_KEYWORD": "annex_e",
    "AnnexETable": "annex_e",
    "Option": "annex_e",
    "ProfileAttribute": "annex_e",
    "load_table": "annex_e",
    "BurnedIn": "burned_in",
    "burned_in_risk": "burned_in",
    "count_present": "presence",
    "is_empty_value": "presence",
}

__all__ = [
    "PRIVATE_KEYWORD",
    "AnnexETable",
    "BurnedIn",
    "Option",
    "ProfileAttribute",
    "burned_in_risk",
    "count_present",
    "is_empty_value",
    "load_table",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
