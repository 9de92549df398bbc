"""The UID keywords written out in ``probes/dicom/uids.py`` are pydicom's."""

from __future__ import annotations

from pydicom.uid import UID

from pacsaudit.probes.dicom import uids
from pacsaudit.probes.dicom.proposal import PROPOSED_CONTEXTS, UNKNOWN_SOP_CLASS_CONTEXT_ID


def test_keywords_are_pydicoms() -> None:
    for uid, keyword in uids.KEYWORDS.items():
        assert UID(uid).keyword == keyword, uid


def test_every_uid_constant_has_its_keyword() -> None:
    constants = {v for k, v in vars(uids).items() if k.isupper() and isinstance(v, str)}
    assert constants == set(uids.KEYWORDS)


def test_every_proposed_context_but_the_unknown_one_has_a_keyword() -> None:
    for context in PROPOSED_CONTEXTS:
        known = context.abstract_syntax in uids.KEYWORDS
        assert known is (context.context_id != UNKNOWN_SOP_CLASS_CONTEXT_ID)
        assert all(ts in uids.KEYWORDS for ts in context.transfer_syntaxes)
