"""How a presentation context's answer is put in words in a finding."""

from __future__ import annotations

from pacsaudit.model import ContextOutcome
from pacsaudit.probes.dicom.probe import _context_outcome

IMPLICIT_VR_LE = "1.2.840.10008.1.2"


def test_accepted_context() -> None:
    assert _context_outcome(1, 0, IMPLICIT_VR_LE) == ContextOutcome(
        abstract_syntax="Verification",
        accepted=True,
        result="acceptance",
        transfer_syntax="ImplicitVRLittleEndian",
    )


def test_refused_context_has_no_transfer_syntax() -> None:
    outcome = _context_outcome(3, 3, IMPLICIT_VR_LE)
    assert outcome == ContextOutcome(
        abstract_syntax="PatientRootQueryRetrieveInformationModelFind",
        accepted=False,
        result="abstract-syntax-not-supported",
    )


def test_unknown_values_are_named_not_dropped() -> None:
    assert _context_outcome(15, 0, "1.2.3") == ContextOutcome(
        abstract_syntax="UnknownSOPClass",
        accepted=True,
        result="acceptance",
        transfer_syntax="1.2.3",
    )
    assert _context_outcome(99, 7, None) == ContextOutcome(
        abstract_syntax="context-99", accepted=False, result="unknown-7"
    )
