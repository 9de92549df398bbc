"""``inspect``: detection by content, counts per Annex E attribute, distinct patients."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgspec
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from pacsaudit.deid.canary import write_corpus
from pacsaudit.inspection.files import Kind, sniff
from pacsaudit.inspection.inspect import inspect_paths

PREAMBLE = b"\0" * 128


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (PREAMBLE + b"DICM" + b"\x02\x00", Kind.PART10),
        (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", Kind.HEADERLESS),  # explicit VR LE
        (b"\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100", Kind.HEADERLESS),  # implicit VR LE
        (b"\x00\x08\x00\x05CS\x00\x0aISO_IR 100", Kind.HEADERLESS),  # explicit VR BE
        (b"\x08\x00\x05\x00\xff\xff\xff\x7fxx", Kind.NOT_DICOM),  # absurd length
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", Kind.NOT_DICOM),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", Kind.NOT_DICOM),
        (b"", Kind.NOT_DICOM),
        (b"\0" * 132, Kind.NOT_DICOM),
    ],
)
def test_sniff_decides_by_content(head: bytes, kind: Kind) -> None:
    assert sniff(head) is kind


def test_counts_patients_studies_and_burned_in(tmp_path: Path) -> None:
    entries = write_corpus(tmp_path / "share", 50, patients=7)
    result = inspect_paths([tmp_path / "share"])
    s = result.summary
    assert s.dicom_files == 50
    assert s.headerless_files == 2  # index % 25 == 7
    assert s.patients == 7
    assert s.studies == len({e.study for e in entries})
    assert s.burned_in.declared == sum(e.burned_in for e in entries)
    assert s.burned_in.likely == 10  # the XA files: nothing declared
    assert s.private_files == 50
    by_keyword = {a.keyword: a for a in s.attributes}
    assert by_keyword["PatientName"].files == 50
    assert by_keyword["PatientName"].identifying == 50
    assert by_keyword["ReferencedSOPInstanceUID"].files == 50  # nested two levels down
    assert "Modality" not in by_keyword  # not an Annex E attribute
    assert [p.path for p in result.problems] == ["canary-manifest.json"]


def test_parallel_run_gives_the_same_counts(tmp_path: Path) -> None:
    write_corpus(tmp_path / "share", 80, patients=9)
    one = inspect_paths([tmp_path / "share"], jobs=1).summary
    two = inspect_paths([tmp_path / "share"], jobs=2).summary
    assert one.attributes == two.attributes
    assert (one.patients, one.studies, one.series) == (two.patients, two.studies, two.series)


def test_symlink_loops_are_not_followed(tmp_path: Path) -> None:
    share = tmp_path / "share"
    write_corpus(share, 3, patients=1)
    os.symlink(share, share / "loop")
    s = inspect_paths([share]).summary
    assert s.dicom_files == 3


def test_hostile_nesting_is_bounded(tmp_path: Path) -> None:
    ds = Dataset()
    node = ds
    for _ in range(200):
        item = Dataset()
        item.PatientName = "CNRYDEEP^X"
        node.ContentSequence = Sequence([item])
        node = item
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.save_as(tmp_path / "deep.dcm", enforce_file_format=True)
    s = inspect_paths([tmp_path / "deep.dcm"]).summary
    assert s.dicom_files == 1
    counts = {a.keyword: a.files for a in s.attributes}
    assert counts["PatientName"] == 1


def test_folders_named_after_patients_are_counted(tmp_path: Path) -> None:
    """What a lister of the share sees: files under their patient's name, counted only."""
    corpus = tmp_path / "corpus"
    entries = write_corpus(corpus, 6, patients=2)
    root = tmp_path / "share"
    for i, entry in enumerate(entries):
        family = entry.canaries["identity"][0]
        folder = f"{family}_x" if i % 2 == 0 else f"visit{i}"
        target = root / folder / Path(entry.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus / entry.path, target)
    result = inspect_paths([root])
    assert result.summary.files_in_named_paths == 3
    text = msgspec.json.encode(result.summary).decode().lower()
    assert not any(e.canaries["identity"][0].lower() in text for e in entries)
