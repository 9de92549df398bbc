"""Modality Worklist counts against DCMTK's real wlmscpfs (and Orthanc's worklist plugin):
steps, distinct patients by keyed hash, PHI attribute names — never a value."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from pacsaudit.model import ExposureClass, Severity
from pacsaudit.probes.dicom.exposure import ExposureOptions
from store_servers import HASHER, debian_orthanc, scan, wlmscpfs, write_worklist


@pytest.mark.lab
def test_wlmscpfs_worklist_is_counted_without_a_value(tmp_path: Path) -> None:
    db = tmp_path / "db"
    canaries = write_worklist(db / "OFFIS", steps=12, patients=5)
    with wlmscpfs(tmp_path / "wlmscpfs", db) as server:
        r = scan(server.port, default_called_ae="OFFIS")
    w = r.worklist
    assert w is not None
    assert w.error is None
    assert w.unknown_reason is None
    assert w.final_status == "0000"
    assert w.scheduled_steps == 12
    assert w.scheduled_steps_lower_bound is False
    assert w.distinct_patients == 5
    assert len(w.patient_id_hashes) == 5
    assert w.hash_key_id == HASHER.key_id
    assert {k for k, n in w.phi_attributes.items() if n == 12} >= {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "ReferringPhysicianName",
        "RequestedProcedureDescription",
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepDescription",
    }
    assert r.accepted_called_ae == "OFFIS"
    assert r.product == "DCMTK wlmscpfs"
    assert r.exposure is None  # wlmscpfs offers no Query/Retrieve
    assert r.exposure_class is ExposureClass.PHI_READABLE
    assert r.severity is Severity.CRITICAL
    assert r.attempts[-1].released is True
    text = msgspec.json.encode(r).decode()
    leaked = [c for c in canaries if c in text]
    assert leaked == []


@pytest.mark.lab
def test_wlmscpfs_worklist_bound_cancels_and_marks_a_lower_bound(tmp_path: Path) -> None:
    db = tmp_path / "db"
    write_worklist(db / "OFFIS", steps=12, patients=12)
    with wlmscpfs(tmp_path / "wlmscpfs", db) as server:
        r = scan(
            server.port,
            default_called_ae="OFFIS",
            exposure=ExposureOptions(max_records=4),
        )
    w = r.worklist
    assert w is not None
    assert w.scheduled_steps == 4
    assert w.scheduled_steps_lower_bound is True
    # wlmscpfs has queued every answer before it reads our C-CANCEL: the rest are drained
    # unread, and it ends with success rather than "cancelled".
    assert w.final_status in {"0000", "FE00"}
    assert r.attempts[-1].released is True


@pytest.mark.lab
def test_orthanc_worklist_plugin_as_debian_ships_it(tmp_path: Path) -> None:
    """Debian's Orthanc aborts a stranger's C-FIND (``DicomAlwaysAllowFindWorklist`` false):
    the Q/R survey breaks, the worklist is asked on an association of its own and aborted too —
    unknown, with its reason, never 0."""
    worklists = tmp_path / "worklists"
    write_worklist(worklists, steps=3, patients=2)
    with debian_orthanc(tmp_path / "orthanc", worklists=worklists) as server:
        r = scan(server.port)
    assert "ModalityWorklistInformationModelFind" in r.accepted_contexts
    w = r.worklist
    assert w is not None
    assert w.scheduled_steps is None
    assert w.unknown_reason == "peer-aborted"


@pytest.mark.lab
def test_orthanc_worklist_plugin_open_to_anyone(tmp_path: Path) -> None:
    """With ``DicomAlwaysAllowFindWorklist`` true, Orthanc still aborts Q/R but lists its
    worklist to anyone: counted on the worklist's own association."""
    worklists = tmp_path / "worklists"
    canaries = write_worklist(worklists, steps=3, patients=2)
    with debian_orthanc(
        tmp_path / "orthanc", worklists=worklists, DicomAlwaysAllowFindWorklist=True
    ) as server:
        r = scan(server.port)
    w = r.worklist
    assert w is not None
    assert w.error is None
    assert w.scheduled_steps == 3
    assert w.distinct_patients == 2
    assert w.phi_attributes.get("PatientName") == 3
    assert r.exposure is not None
    assert r.exposure.patients is None  # the Q/R C-FIND was aborted: unknown, not 0
    assert r.exposure_class is ExposureClass.PHI_READABLE
    text = msgspec.json.encode(r).decode()
    assert [c for c in canaries if c in text] == []
