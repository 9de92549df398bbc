"""``deid`` on trees of files: mirrors, resumes, reports bad input, never half-writes."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian

from pacsaudit.deid.canary import CanaryFile, find_canaries, make_dataset
from pacsaudit.deid.keys import load_or_create_key
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import LOG_FILE, REVIEW_FILE, TMP_SUFFIX, DeidPlan, run_deid
from pacsaudit.inspection.files import METADATA_DIR
from pacsaudit.inspection.inspect import inspect_paths
from pacsaudit.inspection.model import DeidFile, decode_record
from pacsaudit.measure.annex_e import Option
from pacsaudit.usage import UsageError

Corpus = tuple[Path, list[CanaryFile]]


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _all_canaries(entry: CanaryFile) -> list[str]:
    return [c for values in entry.canaries.values() for c in values]


def test_run_mirrors_input_and_leaves_no_canary(corpus: Corpus, key: bytes, tmp_path: Path) -> None:
    root, entries = corpus
    before = _digest(root)
    out = tmp_path / "out"
    result = run_deid(DeidPlan(root, out, DeidOptions(), key, jobs=2))
    assert _digest(root) == before  # originals untouched
    assert result.summary.written == len(entries)
    assert result.summary.skipped == {"not-dicom": 1}  # the manifest itself
    for entry in entries:
        data = (out / entry.path).read_bytes()
        assert find_canaries(data, _all_canaries(entry)) == [], entry.path
        ds = pydicom.dcmread(out / entry.path, force=True)
        original = pydicom.dcmread(root / entry.path, force=True)
        assert ds.PixelData == original.PixelData
        assert ds.is_implicit_VR == original.is_implicit_VR  # transfer syntax kept
    inspected = inspect_paths([out]).summary
    assert inspected.dicom_files == len(entries)
    assert inspected.deidentified_files == len(entries)
    assert inspected.files_with_identifying == 0
    assert inspected.identifying_attributes == 0
    assert inspected.studies == len({e.study for e in entries})  # links kept
    assert inspected.patients == len({e.patient for e in entries})


def test_burned_in_files_are_listed_for_review(corpus: Corpus, key: bytes, tmp_path: Path) -> None:
    root, entries = corpus
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    review = (out / METADATA_DIR / REVIEW_FILE).read_text().splitlines()
    listed = {line.split('"')[3] for line in review}
    assert {e.path for e in entries if e.burned_in} <= listed
    assert all((out / p).exists() for p in listed)  # written, pixels untouched, but listed


def test_interrupted_run_resumes_to_identical_output(
    corpus: Corpus, key: bytes, tmp_path: Path
) -> None:
    root, entries = corpus
    out = tmp_path / "out"
    first_review = run_deid(DeidPlan(root, out, DeidOptions(), key)).summary.review
    first = _digest(out)
    # An interruption: some outputs never written, one temporary file left behind.
    for entry in entries[::3]:
        (out / entry.path).unlink()
    stale = out / Path(entries[1].path).parent / f".x.dcm.123{TMP_SUFFIX}"
    stale.write_bytes(b"half")
    second = run_deid(DeidPlan(root, out, DeidOptions(), key))
    assert second.summary.written == len(entries[::3])
    assert second.summary.already_done == len(entries) - len(entries[::3])
    assert not stale.exists()
    assert _digest(out).keys() >= {k for k in first if not k.startswith(METADATA_DIR)}
    for name, digest in first.items():
        if not name.startswith(METADATA_DIR):
            assert _digest(out)[name] == digest  # keyed, not random: byte-identical
    # the review list still names files done by the first run
    assert second.summary.review == first_review >= sum(e.burned_in for e in entries)


def test_resume_refuses_other_options_or_key(corpus: Corpus, key: bytes, tmp_path: Path) -> None:
    root, _ = corpus
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(), key))
    with pytest.raises(UsageError, match="other options"):
        run_deid(DeidPlan(root, out, DeidOptions(frozenset({Option.RETAIN_UIDS})), key))
    with pytest.raises(UsageError, match="other options"):
        run_deid(DeidPlan(root, out, DeidOptions(), bytes(32)))


def test_out_may_not_overlap_in(corpus: Corpus, key: bytes) -> None:
    root, _ = corpus
    with pytest.raises(UsageError, match="must not contain"):
        run_deid(DeidPlan(root, root / "out", DeidOptions(), key))
    with pytest.raises(UsageError, match="must not contain"):
        run_deid(DeidPlan(root, root, DeidOptions(), key))


def _write(path: Path, index: int) -> bytes:
    """A Part 10 file, explicit VR little endian."""
    ds, _ = make_dataset(index)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


def test_bad_input_is_reported_per_file_and_the_run_goes_on(key: bytes, tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    good = _write(src / "good.dcm", 0)
    (src / "cut-header.dcm").write_bytes(good[:400])
    (src / "cut-pixels.dcm").write_bytes(good[:-100])
    (src / "notes.dcm").write_bytes(b"%PDF-1.4 not dicom at all")
    (src / "empty.dcm").write_bytes(b"")
    (src / "folder.dcm").mkdir()
    os.mkfifo(src / "pipe.dcm")
    # a transfer syntax pydicom does not know
    unknown = bytearray(good)
    ts = b"1.2.840.10008.1.2.1\x00"
    at = unknown.index(ts)
    unknown[at : at + len(ts)] = b"1.2.840.99999.9.9.9\x00"
    (src / "unknown-ts.dcm").write_bytes(bytes(unknown))
    # declared explicit VR, written implicit VR: DCMTK cannot read it either
    ds, _ = make_dataset(3)
    fp = DicomBytesIO()
    fp.write(b"\0" * 128 + b"DICM")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    write_file_meta_info(fp, meta, enforce_standard=True)
    fp.is_implicit_VR, fp.is_little_endian = True, True
    write_dataset(fp, ds)
    (src / "wrong-ts.dcm").write_bytes(fp.getvalue())
    result = run_deid(DeidPlan(src, out, DeidOptions(), key))
    by_path = {f.path: f for f in result.files}
    assert by_path["good.dcm"].status == "written"
    assert by_path["cut-header.dcm"].error == "truncated"
    assert by_path["cut-pixels.dcm"].error == "truncated"
    assert by_path["notes.dcm"].error == "not-dicom"
    assert by_path["empty.dcm"].error == "not-dicom"
    assert by_path["pipe.dcm"].error == "not-regular"
    assert by_path["unknown-ts.dcm"].error == "unsupported-transfer-syntax"
    assert by_path["wrong-ts.dcm"].error == "wrong-transfer-syntax"
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {w for w in written if not w.startswith(METADATA_DIR)} == {"good.dcm"}
    log = (out / METADATA_DIR / LOG_FILE).read_bytes().splitlines()
    records = [decode_record(line) for line in log]
    assert {r.path for r in records if isinstance(r, DeidFile)} >= set(by_path) - {"folder.dcm"}


def test_key_file_is_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "pacsaudit" / "deid.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key  # stable across runs
    path.chmod(0o644)
    with pytest.raises(UsageError, match="readable by others"):
        load_or_create_key(path)


def test_copy_of_corpus_is_independent(corpus: Corpus, tmp_path: Path) -> None:
    """Guard for the other tests: the shared corpus is never written to by a run."""
    root, _ = corpus
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert _digest(copy) == _digest(root)


@pytest.mark.parametrize(
    "options",
    [
        {Option.RETAIN_UIDS, Option.RETAIN_LONG_FULL_DATES},
        {Option.RETAIN_LONG_MODIFIED_DATES, Option.RETAIN_PATIENT_CHARACTERISTICS},
        {Option.RETAIN_DEVICE_IDENTITY, Option.RETAIN_INSTITUTION_IDENTITY},
        {Option.CLEAN_DESCRIPTORS, Option.CLEAN_STRUCTURED_CONTENT, Option.CLEAN_GRAPHICS},
    ],
)
def test_inspect_honours_the_options_a_file_declares(
    corpus: Corpus, key: bytes, tmp_path: Path, options: set[Option]
) -> None:
    """What an option retains is not reported as left over; everything else still is zero."""
    root, entries = corpus
    out = tmp_path / "out"
    run_deid(DeidPlan(root, out, DeidOptions(frozenset(options)), key))
    summary = inspect_paths([out]).summary
    assert summary.deidentified_files == len(entries)
    assert summary.identifying_attributes == 0
    retained = {a.keyword for a in summary.attributes}
    if Option.RETAIN_UIDS in options:
        assert "StudyInstanceUID" in retained
    if Option.RETAIN_PATIENT_CHARACTERISTICS in options:
        assert "PatientSex" in retained
