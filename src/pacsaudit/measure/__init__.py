"""What of a patient record may leave the process: the Annex E model, presence counts,
burned-in risk. Counts and keyed hashes only, never a value."""

from pacsaudit.measure.annex_e import (
    PRIVATE_KEYWORD,
    AnnexETable,
    Option,
    ProfileAttribute,
    load_table,
)
from pacsaudit.measure.burned_in import BurnedIn, burned_in_risk
from pacsaudit.measure.presence import count_present, is_empty_value

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
