"""A synthetic corpus with canary PHI in every kind of place, to prove de-identification.

Every identifying value of these fake patients contains a recognisable canary (``CNRY...``, a
unique date, a UID under a test root), and each file records its canaries by category in the
corpus manifest. After de-identification, a canary found anywhere in a file's bytes is a leak;
the categories say which canaries an option is allowed to keep (dates under Retain Longitudinal
Full Dates, UIDs under Retain UIDs, ...). Pixel data is filled with bytes outside printable
ASCII so a canary can never appear there by chance.

Used by the tests, by the benchmark, and by anyone who wants to check a build before trusting
it with real data. Every patient here is invented.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    XRayAngiographicImageStorage,
)

MANIFEST = "canary-manifest.json"
UID_ROOT = "1.2.826.0.1.3680043.10.999"
"""A fake root for the corpus' original UIDs (the canaries of the UID category)."""
PRIVATE_CREATOR = "CNRY PRIVATE"


class Category(enum.StrEnum):
    IDENTITY = "identity"
    DATE = "date"
    UID = "uid"
    DEVICE = "device"
    INSTITUTION = "institution"
    FREE_TEXT = "free-text"
    """Other people's names typed into free text the table does not name (a PDF's title, a
    file ID, a code meaning, an SR's text): only default-deny removes them, since they are
    not this file's identifiers. Clean Structured Content keeps an SR's text (cleaned of the
    file's own identifiers only), so it may keep these there."""


_MODALITIES = (
    ("CT", CTImageStorage),
    ("MR", MRImageStorage),
    ("US", UltrasoundImageStorage),
    ("OT", SecondaryCaptureImageStorage),
    ("XA", XRayAngiographicImageStorage),
)


@dataclass(frozen=True)
class CanaryFile:
    path: str
    """Relative to the corpus root."""
    canaries: dict[str, list[str]]
    """Category to the strings that must not survive de-identification."""
    patient: int
    study: int
    burned_in: bool


def _pixels(size: int, index: int) -> bytes:
    """Bytes 0x80-0xFF only, so no ASCII canary can appear in them; the first three carry the
    file's index, so a tool that renames its outputs can still be checked file by file."""
    head = bytes(0x80 | (index >> shift) & 0x7F for shift in (14, 7, 0))
    pattern = bytes(0x80 | ((i * 7 + index) & 0x7F) for i in range(256))
    return (head + pattern * (size // 256 + 1))[:size]


def index_from_pixels(pixels: bytes) -> int:
    """The corpus index written into the pixel data by :func:`make_dataset`."""
    return (pixels[0] & 0x7F) << 14 | (pixels[1] & 0x7F) << 7 | (pixels[2] & 0x7F)


def make_dataset(
    index: int, *, patients: int = 50, rows: int = 32, frames: int = 1
) -> tuple[Dataset, CanaryFile]:
    """One synthetic image (``frames`` > 1: a multi-frame one) of a fake patient, and the
    canaries it carries."""
    p = index % patients
    study = index % (patients * 3)
    series = study * 2 + index % 2
    modality, sop_class = _MODALITIES[index % len(_MODALITIES)]
    family, given = f"CNRYF{p:05d}", f"CNRYG{p:05d}"
    birth = date(1940, 1, 1) + timedelta(days=p * 97 % 20000)
    study_day = date(2015, 1, 1) + timedelta(days=study * 11 % 3000)
    study_uid = f"{UID_ROOT}.1.{study}"
    series_uid = f"{UID_ROOT}.2.{series}"
    sop_uid = f"{UID_ROOT}.3.{index}"
    frame_uid = f"{UID_ROOT}.4.{study}"
    source_uid = f"{UID_ROOT}.5.{index}"
    concat_uid = f"{UID_ROOT}.6.{index}"
    da, born = study_day.strftime("%Y%m%d"), birth.strftime("%Y%m%d")

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = da
    ds.StudyTime = ds.SeriesTime = "101502"
    ds.AcquisitionDateTime = da + "101502.000000"
    ds.AccessionNumber = f"CNRYACC{study:06d}"
    ds.Modality = modality
    ds.Manufacturer = "SYNTHETIC"
    ds.InstitutionName = f"CNRYINST{p:05d} Hospital"
    ds.InstitutionAddress = f"{p} CNRYSTREET{p:05d} Road"
    ds.ReferringPhysicianName = f"CNRYREF{p:05d}^DOCTOR"
    ds.StationName = f"CNRYST{p:05d}"
    ds.StudyDescription = f"Head {modality} for {family}"
    ds.SeriesDescription = f"series of {given} {family}"
    ds.PerformingPhysicianName = f"CNRYPERF{p:05d}^DR"
    ds.OperatorsName = f"CNRYOPER{p:05d}^TECH"
    ds.ManufacturerModelName = "MODEL-1"
    ds.PatientName = f"{family}^{given}"
    ds.PatientID = f"CNRYID{p:05d}"
    ds.IssuerOfPatientID = "CNRYISSUER"
    ds.PatientBirthDate = born
    ds.PatientSex = "F" if p % 2 else "M"
    ds.PatientAge = f"{40 + p % 40:03d}Y"
    ds.OtherPatientIDs = f"CNRYOID{p:05d}"
    ds.PatientAddress = f"{p} CNRYADDR{p:05d} Lane"
    ds.PatientTelephoneNumbers = f"555-CNRYTEL{p:05d}"
    ds.AdditionalPatientHistory = f"history of {family}, born {born}"
    ds.DeviceSerialNumber = f"CNRYSN{p:05d}"
    ds.ProtocolName = f"protocol for {family}"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = f"CNRYSID{study:04d}"
    ds.SeriesNumber = series % 100
    ds.InstanceNumber = index % 1000
    ds.FrameOfReferenceUID = frame_uid
    ds.ImageComments = f"seen by {given} {family} on {da}"
    # Outside Table E.1-1: the safety nets must catch these.
    ds.SecondaryReviewerName = f"CNRYREV{p:05d}^NURSE"
    ds.ExpiryDate = born
    ds.SOPInstanceUIDOfConcatenationSource = concat_uid
    _free_text(ds, p, family)
    _nested(ds, p, study, sop_class, source_uid, family, given)
    burned = modality in ("US", "OT")
    if burned:
        ds.BurnedInAnnotation = "YES"
    _image(ds, rows, frames, index)

    canaries = _canaries(
        p,
        study,
        family,
        given,
        [da, born],
        [study_uid, series_uid, sop_uid, frame_uid, source_uid, concat_uid],
    )
    relpath = f"patient{p:05d}/study{study:05d}/series{series:05d}/img{index:06d}.dcm"
    return ds, CanaryFile(relpath, {str(k): v for k, v in canaries.items()}, p, study, burned)


def _nested(
    ds: Dataset, p: int, study: int, sop_class: str, source_uid: str, family: str, given: str
) -> None:
    """Nested sequences two levels deep, and private data with a private sequence."""
    study_uid = ds.StudyInstanceUID
    # the patient's name typed into a code meaning
    ds.AnatomicRegionSequence = Sequence([_code("69536005", "SCT", f"Head of {family}")])
    request = Dataset()
    request.RequestedProcedureID = f"CNRYRPID{study:05d}"
    request.ScheduledProcedureStepID = f"CNRYSPS{study:05d}"
    request.AccessionNumber = f"CNRYACC{study:06d}"
    request.StudyInstanceUID = study_uid
    request.RequestingPhysician = f"CNRYREQ{p:05d}^DR"
    ds.RequestAttributesSequence = Sequence([request])
    source = Dataset()
    source.ReferencedSOPClassUID = sop_class
    source.ReferencedSOPInstanceUID = source_uid
    source.ReferencedFileID = ["IMAGES", f"CNRYFILE{p:05d}"]  # a CS that holds names
    inner = Dataset()
    inner.ReferencedSOPClassUID = sop_class
    inner.ReferencedSOPInstanceUID = f"{source_uid}.1"
    source.ReferencedImageSequence = Sequence([inner])
    ds.SourceImageSequence = Sequence([source])
    other = Dataset()
    other.PatientID = f"CNRYOID{p:05d}"
    other.IssuerOfPatientID = "CNRYISSUER"
    ds.OtherPatientIDsSequence = Sequence([other])
    # Private data, one element nested in a private sequence.
    block = ds.private_block(0x0011, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", f"CNRYPRIV{p:05d}")
    block.add_new(0x02, "PN", f"{family}^{given}")
    private_item = Dataset()
    private_item.PatientID = f"CNRYID{p:05d}"
    block.add_new(0x03, "SQ", Sequence([private_item]))


def _canaries(
    p: int, study: int, family: str, given: str, dates: list[str], uids: list[str]
) -> dict[Category, list[str]]:
    """The strings of one file that must not survive, by category."""
    return {
        Category.IDENTITY: [
            family,
            given,
            f"CNRYID{p:05d}",
            f"CNRYOID{p:05d}",
            f"CNRYACC{study:06d}",
            f"CNRYADDR{p:05d}",
            f"CNRYTEL{p:05d}",
            f"CNRYREF{p:05d}",
            f"CNRYPERF{p:05d}",
            f"CNRYOPER{p:05d}",
            f"CNRYREV{p:05d}",
            f"CNRYREQ{p:05d}",
            f"CNRYRPID{study:05d}",
            f"CNRYSPS{study:05d}",
            f"CNRYSID{study:04d}",
            f"CNRYPRIV{p:05d}",
            "CNRYISSUER",
        ],
        Category.DATE: dates,
        Category.UID: uids,
        Category.DEVICE: [f"CNRYST{p:05d}", f"CNRYSN{p:05d}", source_ae(p)],
        Category.INSTITUTION: [f"CNRYINST{p:05d}", f"CNRYSTREET{p:05d}"],
        Category.FREE_TEXT: [
            f"CNRYFRIEND{p:05d}",
            f"CNRYTITLE{p:05d}",
            f"CNRYFILE{p:05d}",
            f"CNRYCODE{p:05d}",
            f"CNRYDEEP{p:05d}",
        ],
    }


def _image(ds: Dataset, rows: int, frames: int, index: int) -> None:
    """16-bit monochrome pixels (``frames`` of them) carrying the corpus index."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = rows
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = _pixels(rows * rows * 2 * frames, index)


def source_ae(patient: int) -> str:
    """The file meta Source Application Entity Title (0002,0016) of a patient's files: a
    device identity that only the file meta carries."""
    return f"CNRYAE{patient:05d}"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _text_item(text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code("121106", "DCM", "Comment")])
    item.TextValue = text
    return item


def _free_text(ds: Dataset, p: int, family: str) -> None:
    """Free text in places Table E.1-1 does not name: top level, code sequences, and an SR
    content tree at depths 1 and 3 (Content Sequence has the action D); a Referenced File ID
    sits in the Source Image Sequence, since group 0004 cannot start a bare data set."""
    friend = f"CNRYFRIEND{p:05d}"
    ds.DocumentTitle = f"Letter from CNRYTITLE{p:05d}"
    ds.TextValue = f"{family} told {friend} about it"
    ds.ProcedureCodeSequence = Sequence([_code("CT1", "99LOCAL", f"CT for CNRYCODE{p:05d}")])
    deep = _text_item(f"CNRYDEEP{p:05d} called about {family}")
    middle = Dataset()
    middle.RelationshipType, middle.ValueType = "CONTAINS", "CONTAINER"
    middle.ContentSequence = Sequence([deep])
    outer = Dataset()
    outer.RelationshipType, outer.ValueType = "CONTAINS", "CONTAINER"
    outer.ContentSequence = Sequence([middle])
    ds.ContentSequence = Sequence([_text_item(f"patient told {friend} about it"), outer])


def write_corpus(
    root: Path,
    n_files: int,
    *,
    patients: int = 50,
    rows: int = 32,
    frames: int = 1,
    variety: bool = True,
    manifest: Path | None = None,
) -> list[CanaryFile]:
    """Write ``n_files`` synthetic files under ``root`` and the manifest (in ``root`` unless
    ``manifest`` names another file); returns the entries.

    With ``variety``, one file in ten is implicit VR and one in 25 is headerless (no preamble,
    no file meta), as older archives and NAS exports are.
    """
    manifest_path = manifest
    entries: list[CanaryFile] = []
    for index in range(n_files):
        ds, entry = make_dataset(index, patients=patients, rows=rows, frames=frames)
        path = root / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        implicit = variety and index % 10 == 3
        headerless = variety and index % 25 == 7
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.SourceApplicationEntityTitle = source_ae(entry.patient)
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit or headerless else ExplicitVRLittleEndian
        )
        if headerless:
            ds.file_meta = FileMetaDataset()
            ds.preamble = None
            ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
        else:
            ds.file_meta = meta
            ds.save_as(path, enforce_file_format=True)
        entries.append(entry)
    manifest_data = [
        {
            "path": e.path,
            "canaries": e.canaries,
            "patient": e.patient,
            "study": e.study,
            "burned_in": e.burned_in,
        }
        for e in entries
    ]
    (manifest_path or root / MANIFEST).write_text(json.dumps(manifest_data))
    return entries


def read_manifest(path: Path) -> list[CanaryFile]:
    """Entries of a manifest file, or of the manifest in a corpus folder."""
    data = json.loads((path / MANIFEST if path.is_dir() else path).read_text())
    return [CanaryFile(**d) for d in data]


def find_canaries(data: bytes, canaries: Iterable[str]) -> list[str]:
    """The canaries present in ``data``, in any letter case."""
    lowered = data.lower()
    return [c for c in canaries if c.lower().encode() in lowered]


@dataclass(frozen=True)
class ScriptCase:
    """A fake patient whose name is written in one script and character set."""

    charset: str | list[str]
    name: str
    """Patient Name as PN, with its ideographic and phonetic groups."""
    description: str
    """A Study Description that holds the name as people write it in that script."""
    canaries: tuple[str, ...]
    """The parts of the name that must not survive, as decoded text."""


SCRIPT_CASES = {
    "latin-1": ScriptCase(
        "ISO_IR 100", "Müller^Jürgen", "Kopf CT für Jürgen Müller", ("Müller", "Jürgen")
    ),
    "utf-8-korean": ScriptCase(
        "ISO_IR 192",
        "Kim^Minjun=김^민준",
        "김민준이 두통으로 내원, 김 환자 뇌 MRI",
        ("김민준", "민준", "김"),
    ),
    "utf-8-japanese": ScriptCase(
        "ISO_IR 192",
        "Yamada^Tarou=山田^太郎=やまだ^たろう",
        "山田太郎様の頭部CT(やまだ)",
        ("山田", "太郎", "やまだ"),
    ),
    "utf-8-chinese": ScriptCase(
        "ISO_IR 192", "Wang^Xiaoming=王^小明", "王小明的头部CT检查", ("王", "小明")
    ),
    "iso-2022-ir-87": ScriptCase(
        ["", "ISO 2022 IR 87"],
        "Yamada^Tarou=山田^太郎",
        "山田太郎様の頭部CT",
        ("山田", "太郎"),
    ),
}
"""Names in every script class the profile must clean (``--clean-descriptors`` keeps the
description, cleaned): spaced Latin-1, and unspaced Hangul, kanji and kana, hanzi."""


def make_script_dataset(case: ScriptCase, index: int = 0) -> Dataset:
    """An image of :func:`make_dataset` re-labelled with ``case``'s character set and name."""
    ds, _ = make_dataset(index)
    ds.SpecificCharacterSet = case.charset
    ds.PatientName = case.name
    ds.StudyDescription = case.description
    ds.SeriesDescription = f"{case.description} 2"
    return ds
