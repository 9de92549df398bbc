"""Synthetic patients for the lab: valid DICOM files full of fake, greppable PHI.

Every identifying value carries a *canary* — a token that cannot occur by chance — so that a
test can search every output, log and terminal transcript for all canaries and prove that none
leaked. The corpus is deterministic for a seed (UIDs included), so counts are known exactly and
a test can assert them.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

IMPLEMENTATION_UID = "2.25.158577293499648220484904446924696762975.1"

# (modality, SOP class UID, rows, columns, burned-in annotation)
MODALITIES: tuple[tuple[str, str, bool], ...] = (
    ("CT", "1.2.840.10008.5.1.4.1.1.2", False),
    ("MR", "1.2.840.10008.5.1.4.1.1.4", False),
    ("CR", "1.2.840.10008.5.1.4.1.1.1", False),
    ("DX", "1.2.840.10008.5.1.4.1.1.1.1", False),
    ("US", "1.2.840.10008.5.1.4.1.1.6.1", True),
    ("SC", "1.2.840.10008.5.1.4.1.1.7", True),
)

_GIVEN = ("Alba", "Bruno", "Cleo", "Dario", "Elin", "Fausto", "Greta", "Hugo", "Ines", "Jon")
_FAMILY = ("Quorvex", "Zantrel", "Pellfrey", "Ostrakin", "Vundermay", "Krestol", "Yarrowby")


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    patients: int = 25
    studies: int = 60
    max_series_per_study: int = 3
    max_instances_per_series: int = 4
    seed: int = 20261126

    def validate(self) -> None:
        if self.patients < 1 or self.studies < self.patients:
            raise ValueError("need at least one patient and one study per patient")


@dataclass
class Manifest:
    """What the corpus holds: exact counts for tests, and every canary value."""

    patients: int = 0
    studies: int = 0
    series: int = 0
    instances: int = 0
    modalities: Counter[str] = field(default_factory=Counter)
    study_years: Counter[int] = field(default_factory=Counter)
    canaries: set[str] = field(default_factory=set)
    files: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "patients": self.patients,
            "studies": self.studies,
            "series": self.series,
            "instances": self.instances,
            "modalities": dict(sorted(self.modalities.items())),
            "study_years": {str(k): v for k, v in sorted(self.study_years.items())},
            "canaries": sorted(self.canaries),
        }


@dataclass(frozen=True, slots=True)
class _Patient:
    name: str
    patient_id: str
    birth_date: str
    sex: str
    address: str
    phone: str
    other_id: str
    size: str
    weight: str
    history: str
    canaries: tuple[str, ...]


def _token(rng: random.Random) -> str:
    # Consonant-heavy and mixed with digits: never a real word, never a date or number alone.
    return "".join(rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(3)) + str(
        rng.randint(100, 999)
    )


def _patient(n: int, rng: random.Random) -> _Patient:
    tok = _token(rng)
    given = _GIVEN[n % len(_GIVEN)]
    family = f"{_FAMILY[n % len(_FAMILY)]}{tok}"
    birth = f"{rng.randint(1931, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    patient_id = f"CNRY{tok}{n:03d}"
    address = f"{n + 1} Canary Row {tok}, Testville"
    phone = f"+99-{tok}-{rng.randint(1000, 9999)}"
    other_id = f"OID{tok}{n:03d}"
    history = f"Canary history {tok}"
    return _Patient(
        name=f"{family}^{given}",
        patient_id=patient_id,
        birth_date=birth,
        sex=rng.choice("MF"),
        address=address,
        phone=phone,
        other_id=other_id,
        size=f"{rng.uniform(1.45, 1.95):.2f}",
        weight=f"{rng.randint(45, 110)}",
        history=history,
        canaries=(family, patient_id, address, phone, other_id, history),
    )


def generate_corpus(out_dir: Path, spec: CorpusSpec | None = None) -> Manifest:
    """Write the corpus as ``out_dir/<patient>/<study>/<series>/<n>.dcm``; return its manifest."""
    spec = spec or CorpusSpec()
    spec.validate()
    rng = random.Random(spec.seed)
    manifest = Manifest()
    patients = [_patient(n, rng) for n in range(spec.patients)]
    # Every patient gets one study, the rest are spread at random.
    owners = list(range(spec.patients)) + [
        rng.randrange(spec.patients) for _ in range(spec.studies - spec.patients)
    ]
    uid_counter = 0

    def uid() -> str:
        nonlocal uid_counter
        uid_counter += 1
        return generate_uid(prefix=None, entropy_srcs=[str(spec.seed), str(uid_counter)])

    for study_no, owner in enumerate(owners):
        patient = patients[owner]
        modality, sop_class, burned_in = MODALITIES[rng.randrange(len(MODALITIES))]
        year = rng.randint(2009, 2025)
        study_date = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        study_uid = uid()
        accession = f"ACC{study_no:04d}{patient.patient_id[-6:]}"
        physician = f"Referrer{_token(rng)}^Doc"
        institution = f"Canary General {_token(rng)}"
        manifest.canaries.update({accession, physician.split("^")[0], institution})
        manifest.studies += 1
        manifest.study_years[year] += 1
        for series_no in range(1, rng.randint(1, spec.max_series_per_study) + 1):
            series_uid = uid()
            manifest.series += 1
            for instance_no in range(1, rng.randint(1, spec.max_instances_per_series) + 1):
                ds = _instance(
                    patient=patient,
                    modality=modality,
                    sop_class=sop_class,
                    burned_in=burned_in,
                    study_uid=study_uid,
                    series_uid=series_uid,
                    sop_uid=uid(),
                    study_date=study_date,
                    accession=accession,
                    physician=physician,
                    institution=institution,
                    study_no=study_no,
                    series_no=series_no,
                    instance_no=instance_no,
                )
                path = (
                    out_dir
                    / f"p{owner:03d}"
                    / f"s{study_no:03d}"
                    / f"r{series_no:02d}"
                    / f"{instance_no:03d}.dcm"
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(path, enforce_file_format=True)
                manifest.files.append(path)
                manifest.instances += 1
                manifest.modalities[modality] += 1
    manifest.patients = len(set(owners))
    for p in patients:
        manifest.canaries.update(p.canaries)
    return manifest


def _instance(
    *,
    patient: _Patient,
    modality: str,
    sop_class: str,
    burned_in: bool,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    study_date: str,
    accession: str,
    physician: str,
    institution: str,
    study_no: int,
    series_no: int,
    instance_no: int,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_UID)
    meta.ImplementationVersionName = "PACSAUDIT_LAB"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientAge = f"{max(0, int(study_date[:4]) - int(patient.birth_date[:4])):03d}Y"
    ds.PatientAddress = patient.address
    ds.PatientTelephoneNumbers = patient.phone
    ds.OtherPatientIDs = patient.other_id
    ds.PatientSize = patient.size
    ds.PatientWeight = patient.weight
    ds.EthnicGroup = "Synthetic"
    ds.AdditionalPatientHistory = patient.history
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.SeriesDate = study_date
    ds.ContentDate = study_date
    ds.AccessionNumber = accession
    ds.StudyID = f"ST{study_no:04d}"
    ds.StudyDescription = f"Synthetic {modality} study"
    ds.SeriesDescription = f"Synthetic series {series_no}"
    ds.ReferringPhysicianName = physician
    ds.InstitutionName = institution
    ds.InstitutionAddress = f"{institution} Campus"
    ds.Modality = modality
    ds.Manufacturer = "pacsaudit lab"
    ds.SeriesNumber = series_no
    ds.InstanceNumber = instance_no
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes((instance_no * 7 + i) % 256 for i in range(64))
    return ds
