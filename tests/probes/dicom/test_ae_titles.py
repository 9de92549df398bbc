"""The shipped AE-title list: every entry a valid AE title with its source, no repeats."""

from __future__ import annotations

from pacsaudit.probes.dicom.ae_guess import shipped_entries, shipped_lists
from pacsaudit.probes.dicom.pdu import encode_ae_title


def test_every_entry_is_a_valid_title_with_a_source() -> None:
    for kind, entries in shipped_entries().items():
        titles = [e["title"] for e in entries]
        assert len(titles) == len(set(titles)), kind
        for entry in entries:
            encode_ae_title(entry["title"])
            assert entry["source"].strip(), entry


def test_toolkits_samples_and_both_letter_cases_are_listed() -> None:
    called, _ = shipped_lists()
    for title in ("ANY-SCP", "OFFIS", "ORTHANC", "DCM4CHEE", "STORESCP", "PYNETDICOM"):
        assert title in called
    assert {"RADIANT", "radiant", "orthanc"} <= set(called)
