"""The lab's worklist and storage-only servers: DCMTK ``wlmscpfs`` and ``storescp``.

``wlmscpfs`` serves the ``.wl`` files of one folder per called AE title (LAB-NOTES). The lab's
folder is ``ANY-SCP``: the well-known default title opens it, as on a broker set up from a
sample, so the demo's scan — without ``--guess-ae`` — counts a worklist (weak access control,
``called-ae-known-default``). The scheduled steps are synthetic: made-up names and IDs under
the lab's own prefix, never a real person.

``storescp`` accepts any called AE title and every standard Storage SOP class: a storage-only
server the scan finds writable without storing anything (its ``incoming/`` folder stays empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pacsaudit.lab.services import LabInfo, LabService, start_service
from pacsaudit.lab.table import STORESCP_AE, WORKLIST_AE, lab_service

WORKLIST_STEPS = 6
WORKLIST_PATIENTS = 3


def write_worklist(
    folder: Path,
    steps: int,
    patients: int,
    prefix: str = "Labwl",
    patient_ids: Sequence[str] = (),
) -> set[str]:
    """Synthetic ``.wl`` files, one scheduled procedure step each, ``patients`` distinct
    patients, as DCMTK's sample database holds them; returns every made-up identifying value
    written (the canaries: no output may ever hold one). ``prefix`` makes every value;
    ``patient_ids`` (synthetic ones, e.g. of the lab's archive) replace the first made-up
    Patient IDs, so that some scheduled patients are also in an archive."""
    from pydicom.dataset import Dataset  # the lab only

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lockfile").touch()
    tag = prefix.upper()
    canaries = {f"{prefix}^Referrer", f"{prefix}^Performer", f"{tag} CT HEAD", f"{tag} STEP"}
    for n in range(steps):
        p = n % patients
        ds = Dataset()
        ds.PatientName = f"{prefix}^Patient{p:03d}"
        ds.PatientID = patient_ids[p] if p < len(patient_ids) else f"{tag}{p:05d}"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.AccessionNumber = f"{tag}ACC{n:04d}"
        ds.ReferringPhysicianName = f"{prefix}^Referrer"
        ds.RequestedProcedureID = f"{tag}RP{n:04d}"
        ds.RequestedProcedureDescription = f"{tag} CT HEAD"
        ds.StudyInstanceUID = f"2.25.{7_000_000 + n}"
        step = Dataset()
        step.Modality = "CT"
        step.ScheduledStationAETitle = f"{tag[:12]}CT"
        step.ScheduledProcedureStepStartDate = "20261204"
        step.ScheduledProcedureStepStartTime = "0800"
        step.ScheduledPerformingPhysicianName = f"{prefix}^Performer"
        step.ScheduledProcedureStepDescription = f"{tag} STEP"
        step.ScheduledProcedureStepID = f"{tag}SPS{n:04d}"
        ds.ScheduledProcedureStepSequence = [step]
        ds.save_as(folder / f"step{n:04d}.wl", implicit_vr=True, little_endian=True)
        canaries |= {str(ds.PatientName), ds.PatientID, ds.AccessionNumber}
    return canaries


def start_worklist(info: LabInfo, ports: dict[str, int]) -> LabService:
    root = info.state_dir / "wlmscpfs"
    canaries = write_worklist(root / "db" / WORKLIST_AE, WORKLIST_STEPS, WORKLIST_PATIENTS)
    known = info.corpus.get("canaries")
    info.corpus["canaries"] = sorted({*(known if isinstance(known, list) else []), *canaries})
    expect = {
        "status": "dicom",
        "ae_policy": "called-ae-known-default",
        "access_tier": "weak",
        "device_class": "worklist-broker",
        "worklist_steps": str(WORKLIST_STEPS),
    }
    service = lab_service("worklist", ports, expect)
    info.services.append(service)
    argv = ["wlmscpfs", "-dfp", str(root / "db"), str(ports["worklist"])]
    start_service(info, service, argv, root)
    return service


def start_storescp(info: LabInfo, ports: dict[str, int]) -> LabService:
    root = info.state_dir / "storescp"
    (root / "incoming").mkdir(parents=True, exist_ok=True)
    expect = {
        "status": "dicom",
        "ae_policy": "any-called-ae",
        "access_tier": "none",
        "exposure_class": "writable",
        "writable": "yes",
    }
    service = lab_service("storescp", ports, expect)
    info.services.append(service)
    argv = ["storescp", "-aet", STORESCP_AE, "-od", str(root / "incoming"), str(ports["storescp"])]
    start_service(info, service, argv, root)
    return service
