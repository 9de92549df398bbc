"""The header writer gives pydicom's bytes exactly, on every shape of file it meets.

Each case reads the same bytes twice into two independent data sets, optionally applies the
profile to both (same key: the same changes), and writes one with
:mod:`pacsaudit.deid.encode` and the other with pydicom's ``write_dataset`` /
``write_file_meta_info``; the outputs must be equal byte for byte. All data is synthetic.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pacsaudit.deid.canary import SCRIPT_CASES, CanaryFile, make_dataset, make_script_dataset
from pacsaudit.deid.encode import encode_dataset, encode_file_meta
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.deid.profile import Deidentifier, DeidOptions
from pacsaudit.measure.annex_e import Option

Corpus = tuple[Path, list[CanaryFile]]
_KEY = b"test-key-for-encoder-equivalence"


def _pydicom(ds: Dataset, implicit: bool, little: bool) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, ds)
    return fp.getvalue()


def _pydicom_meta(meta: Dataset) -> bytes:
    fp = DicomBytesIO()
    write_file_meta_info(fp, meta, enforce_standard=False)  # type: ignore[arg-type]
    return fp.getvalue()


def _file(ds: Dataset, syntax: str, *, defined_meta_length: bool = True) -> bytes:
    """``ds`` as a Part 10 file in ``syntax`` (pydicom's writer)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    meta.SourceApplicationEntityTitle = "FAKEAE01"
    ds.file_meta = meta
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=defined_meta_length)
    return buffer.getvalue()


def _same(data: bytes, change: Callable[[Dataset], object] | None = None, **read: object) -> None:
    """Read ``data`` twice, change both alike, and compare the two writers."""
    mine, theirs = (pydicom.dcmread(BytesIO(data), force=True, **read) for _ in range(2))  # type: ignore[arg-type]
    if change is not None:
        change(mine)
        change(theirs)
    implicit, little = theirs.original_encoding
    assert implicit is not None
    assert little is not None
    assert encode_dataset(mine, implicit, little) == _pydicom(theirs, implicit, little)
    meta = getattr(theirs, "file_meta", None)
    if meta is not None:  # headerless files have an empty one: both write nothing
        assert encode_file_meta(mine.file_meta) == _pydicom_meta(meta)


def _profile(options: frozenset[Option] = frozenset()) -> Callable[[Dataset], object]:
    return Deidentifier(Pseudonyms(_KEY), DeidOptions(options)).apply


def _touch_everything(ds: Dataset) -> None:
    """Decode every element (none left raw): the delegated path only."""
    for elem in ds.iterall():
        _ = elem.value


@pytest.mark.parametrize("header_only", [True, False])
@pytest.mark.parametrize("change", ["none", "profile", "decoded"])
def test_corpus_files_equal_pydicom(corpus: Corpus, header_only: bool, change: str) -> None:
    """The canary corpus: explicit and implicit VR, headerless files, nested and private
    sequences, SR content trees, file meta with its group length."""
    root, entries = corpus
    act = {"none": None, "profile": _profile(), "decoded": _touch_everything}[change]
    for entry in entries:
        _same((root / entry.path).read_bytes(), act, stop_before_pixels=header_only)


@pytest.mark.parametrize(
    "options",
    [
        frozenset({Option.RETAIN_UIDS, Option.RETAIN_DEVICE_IDENTITY}),
        frozenset({Option.CLEAN_DESCRIPTORS, Option.CLEAN_STRUCTURED_CONTENT}),
        frozenset({Option.RETAIN_LONG_MODIFIED_DATES, Option.RETAIN_PATIENT_CHARACTERISTICS}),
    ],
)
def test_profile_options_equal_pydicom(corpus: Corpus, options: frozenset[Option]) -> None:
    root, entries = corpus
    for entry in entries[:12]:
        _same((root / entry.path).read_bytes(), _profile(options), stop_before_pixels=True)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_undefined_lengths_equal_pydicom(syntax: str) -> None:
    """Sequences and items of undefined length, nested, an empty sequence of each kind."""
    ds, _ = make_dataset(3, rows=8)
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator = "T-A0100", "SRT"
    inner.CodeMeaning = "Brain"
    inner.is_undefined_length_sequence_item = True
    outer = Dataset()
    outer.AnatomicRegionSequence = Sequence([inner])
    outer.AnatomicRegionSequence.is_undefined_length = True  # type: ignore[attr-defined]
    outer.is_undefined_length_sequence_item = True
    ds.ProcedureCodeSequence = Sequence([outer, Dataset()])
    ds["ProcedureCodeSequence"].is_undefined_length = True
    ds.ReferencedImageSequence = Sequence()
    ds["ReferencedImageSequence"].is_undefined_length = True
    ds.ReferencedStudySequence = Sequence()
    data = _file(ds, syntax)
    read = pydicom.dcmread(BytesIO(data))
    assert read["ProcedureCodeSequence"].is_undefined_length  # the case is what it says
    for change in (None, _profile(), _touch_everything):
        _same(data, change)


def test_big_endian_equal_pydicom() -> None:
    ds, _ = make_dataset(5, rows=8)
    data = _file(ds, ExplicitVRBigEndian)
    for change in (None, _profile(), _touch_everything):
        _same(data, change)


def test_odd_elements_equal_pydicom() -> None:
    """Retired group lengths (not written), an OB of more than 64 kB, an odd-length value,
    empty values of several VRs, an unknown public tag read as UN, a private block."""
    ds, _ = make_dataset(7, rows=8)
    ds.add(DataElement(0x00080000, "UL", 1234))  # retired group length: dropped by both
    ds.add(DataElement(0x00091010, "OB", bytes(range(256)) * 300))
    ds.add(DataElement(0x00090010, "LO", "FAKE CREATOR"))
    ds.add(DataElement(0x00181030, "LO", ""))
    ds.add(DataElement(0x00200037, "DS", None))
    ds.add(DataElement(0x00280030, "DS", [0.5, 0.5]))
    ds.add(DataElement(0x00191234, "UN", b"\x01\x02\x03"))  # odd length, as some writers do
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        data = _file(ds, syntax)
        for change in (None, _profile(), _touch_everything):
            _same(data, change)


@pytest.mark.parametrize("case", sorted(SCRIPT_CASES))
def test_character_sets_equal_pydicom(case: str) -> None:
    """Latin-1, UTF-8 and ISO 2022 files, with an item that has a character set of its own."""
    ds = make_script_dataset(SCRIPT_CASES[case], 2)
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 100"
    item.CodeMeaning = "Gehirn Schädel"
    ds.AnatomicRegionSequence = Sequence([item])
    data = _file(ds, ExplicitVRLittleEndian)
    for change in (None, _profile(), _profile(frozenset({Option.CLEAN_DESCRIPTORS}))):
        _same(data, change)


def test_deferred_and_headerless_equal_pydicom() -> None:
    """A deferred read (values read when written) and a bare data set without file meta."""
    ds, _ = make_dataset(9, rows=16)
    data = _file(ds, ExplicitVRLittleEndian)
    _same(data, None, defer_size=16)
    bare = DicomBytesIO()
    bare.is_implicit_VR, bare.is_little_endian = True, True
    write_dataset(bare, make_dataset(9, rows=16)[0])
    _same(bare.getvalue(), None)
    _same(bare.getvalue(), _profile())


def test_file_meta_without_group_length_equals_pydicom() -> None:
    ds, _ = make_dataset(11, rows=8)
    data = _file(ds, ExplicitVRLittleEndian)
    mine, theirs = (pydicom.dcmread(BytesIO(data)) for _ in range(2))
    del mine.file_meta[0x00020000]
    del theirs.file_meta[0x00020000]
    assert encode_file_meta(mine.file_meta) == _pydicom_meta(theirs.file_meta)
    stray = Dataset()  # a FileMetaDataset refuses it; a plain data set must be refused here
    stray.add(DataElement(0x00020010, "UI", ExplicitVRLittleEndian))
    stray.add(DataElement(0x00080016, "UI", "1.2.3"))
    with pytest.raises(ValueError, match="group"):
        encode_file_meta(stray)


def test_kept_elements_are_not_decoded(corpus: Corpus) -> None:
    """What makes the writer fast: elements the profile keeps stay as read, and their bytes
    are the input's."""
    root, entries = corpus
    data = (root / entries[0].path).read_bytes()
    ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
    _profile()(ds)
    raw = [e for e in ds._dict.values() if isinstance(e, RawDataElement)]
    assert any(e.tag == 0x00280010 for e in raw)  # Rows: kept, never decoded
    out = encode_dataset(ds, *ds.original_encoding)  # type: ignore[arg-type]
    for elem in raw:
        assert isinstance(elem.value, bytes)
        assert elem.value in out


def _decoded_first(change: Callable[[Dataset], object]) -> Callable[[Dataset], object]:
    def run(ds: Dataset) -> object:
        _touch_everything(ds)
        return change(ds)

    return run


@pytest.mark.parametrize(
    "options",
    [
        frozenset(),
        frozenset({Option.RETAIN_LONG_MODIFIED_DATES}),
        frozenset({Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_UIDS}),
        frozenset({Option.CLEAN_DESCRIPTORS, Option.CLEAN_STRUCTURED_CONTENT}),
    ],
)
def test_profile_on_undecoded_values_equals_profile_on_decoded_ones(
    corpus: Corpus, options: frozenset[Option]
) -> None:
    """The profile acts on UIDs, dates, times and (Latin-1) identifier words without decoding
    them; that must change nothing: the same file decoded first gives the same bytes and the
    same action counts. Script cases cover the character sets that are decoded by pydicom."""
    root, entries = corpus
    files = [(root / e.path).read_bytes() for e in entries]
    for case in SCRIPT_CASES.values():
        files.append(_file(make_script_dataset(case, 4), ExplicitVRLittleEndian))
    # sequences of undefined length (pydicom parses those as it reads) given D, Z and U
    ds, _ = make_dataset(6, rows=8)
    for name in ("ContentSequence", "ReferencedStudySequence", "ReferencedImageSequence"):
        item = Dataset()
        item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.10.999.7"
        item.is_undefined_length_sequence_item = True
        setattr(ds, name, Sequence([item]))
        ds[name].is_undefined_length = True
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        files.append(_file(ds, syntax))
    for data in files:
        raw, decoded = (pydicom.dcmread(BytesIO(data), force=True) for _ in range(2))
        kept = _profile(options)(raw)
        also = _decoded_first(_profile(options))(decoded)
        assert kept == also  # same Outcome: burned-in verdict and counts per action
        implicit, little = decoded.original_encoding
        assert implicit is not None
        assert little is not None
        assert encode_dataset(raw, implicit, little) == _pydicom(decoded, implicit, little)
