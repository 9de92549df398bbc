"""The profile on single datasets: actions, options, keyed replacements, safety nets."""

from __future__ import annotations

from datetime import date

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacsaudit.deid.canary import Category, find_canaries, make_dataset
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.deid.profile import Deidentifier, DeidOptions
from pacsaudit.measure.annex_e import Option
from pacsaudit.measure.burned_in import BurnedIn
from pacsaudit.measure.codes import meaning

KEY = bytes(range(32))


def _deid(ds: Dataset, *options: Option, key: bytes = KEY) -> Dataset:
    Deidentifier(Pseudonyms(key), DeidOptions(frozenset(options))).apply(ds)
    return ds


def _text(ds: Dataset) -> bytes:
    """Every value of the dataset, nested ones included, as one searchable blob."""
    parts: list[str] = []
    for elem in ds.iterall():
        if elem.VR != "SQ" and elem.tag != 0x7FE00010:
            parts.append(str(elem.value))
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        parts += [str(e.value) for e in meta]
    return "\n".join(parts).encode("utf-8", "replace")


def _leaks(ds: Dataset, canaries: dict[str, list[str]], *allowed: Category) -> list[str]:
    wanted = [c for cat, values in canaries.items() if cat not in allowed for c in values]
    return find_canaries(_text(ds), wanted)


def test_basic_profile_leaves_no_canary_anywhere() -> None:
    ds, entry = make_dataset(4)
    pixels = ds.PixelData
    _deid(ds)
    assert _leaks(ds, entry.canaries) == []
    assert ds.PixelData == pixels  # pixel data untouched
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert not any(elem.tag.group % 2 for elem in ds)  # private tags gone


def test_actions_follow_the_table() -> None:
    ds, _ = make_dataset(1)
    _deid(ds)
    assert not ds.PatientName  # Z: present, empty
    assert "PatientAddress" not in ds  # X
    assert ds.PatientID  # Z/D -> D: a keyed pseudonym
    assert ds.PatientID != "CNRYID00001"
    assert ds.StudyInstanceUID.startswith("2.25.")  # U
    assert ds.ContentDate == "19000101"  # Z/D -> D: a dummy date
    assert not ds.StudyDate  # Z
    # X/Z/U*: the sequence stays, its UIDs replaced, nested two levels down too
    inner = ds.SourceImageSequence[0].ReferencedImageSequence[0]
    assert inner.ReferencedSOPInstanceUID.startswith("2.25.")
    assert "RequestAttributesSequence" not in ds  # X, with everything nested in it


def test_safety_nets_catch_what_the_table_does_not_list() -> None:
    ds, _ = make_dataset(2)
    _deid(ds)
    assert not ds.SecondaryReviewerName  # PN outside Table E.1-1
    assert not ds.ExpiryDate  # a date outside the table
    assert ds.SOPInstanceUIDOfConcatenationSource.startswith("2.25.")  # unregistered UID
    assert ds.SOPClassUID == make_dataset(2)[0].SOPClassUID  # registered UIDs stay
    # a patient name typed into a code meaning (not an Annex E attribute): the meaning is the
    # coding scheme's own
    assert ds.AnatomicRegionSequence[0].CodeMeaning == meaning("SCT", "69536005")


def test_uids_are_keyed_consistent_and_linked() -> None:
    a, _ = make_dataset(0, patients=5)
    b, _ = make_dataset(15, patients=5)  # same study as file 0 (15 % 15 == 0)
    assert a.StudyInstanceUID == b.StudyInstanceUID
    _deid(a)
    _deid(b)
    assert a.StudyInstanceUID == b.StudyInstanceUID  # still one study
    assert a.SOPInstanceUID != b.SOPInstanceUID
    c, _ = make_dataset(0, patients=5)
    _deid(c)
    assert c.SOPInstanceUID == a.SOPInstanceUID  # another run, same key: same UID
    d, _ = make_dataset(0, patients=5)
    _deid(d, key=bytes(32))
    assert d.SOPInstanceUID != a.SOPInstanceUID  # another key: unlinkable
    assert len(a.SOPInstanceUID) <= 64


def test_media_storage_uid_matches_sop_instance_uid() -> None:
    from pydicom.dataset import FileMetaDataset

    ds, _ = make_dataset(3)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    _deid(ds)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


@pytest.mark.parametrize(
    ("option", "kept"),
    [
        (Option.RETAIN_UIDS, Category.UID),
        (Option.RETAIN_LONG_FULL_DATES, Category.DATE),
        (Option.RETAIN_DEVICE_IDENTITY, Category.DEVICE),
        (Option.RETAIN_INSTITUTION_IDENTITY, Category.INSTITUTION),
    ],
)
def test_each_retain_option_keeps_its_category_only(option: Option, kept: Category) -> None:
    ds, entry = make_dataset(7)
    _deid(ds, option)
    assert _leaks(ds, entry.canaries, kept) == []
    assert find_canaries(_text(ds), entry.canaries[kept])  # and it did keep something
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert codes == {"113100", option.code_value}


def test_modified_dates_shift_per_patient_and_keep_intervals() -> None:
    a, entry = make_dataset(5, patients=5)
    b, _ = make_dataset(10, patients=5)  # same patient, another study
    born, first, second = a.PatientBirthDate, a.StudyDate, b.StudyDate
    _deid(a, Option.RETAIN_LONG_MODIFIED_DATES)
    _deid(b, Option.RETAIN_LONG_MODIFIED_DATES)
    assert _leaks(a, entry.canaries) == []
    assert a.LongitudinalTemporalInformationModified == "MODIFIED"

    def days(x: str, y: str) -> int:
        return (date.fromisoformat(y) - date.fromisoformat(x)).days

    assert a.StudyDate != first
    assert days(first, second) == days(a.StudyDate, b.StudyDate)  # interval kept
    assert a.AcquisitionDateTime[8:] == "101502.000000"  # time of day kept
    assert "PatientBirthDate" not in a or a.PatientBirthDate != born


def test_patient_characteristics_and_clean_descriptors() -> None:
    ds, entry = make_dataset(9)
    sex, age = ds.PatientSex, ds.PatientAge
    _deid(ds, Option.RETAIN_PATIENT_CHARACTERISTICS, Option.CLEAN_DESCRIPTORS)
    assert (ds.PatientSex, ds.PatientAge) == (sex, age)
    assert ds.StudyDescription.startswith("Head ")  # kept, cleaned
    assert _leaks(ds, entry.canaries) == []  # the name inside it is gone


def test_safe_private_keeps_only_the_listed_elements() -> None:
    ds, _ = make_dataset(2)
    listed = frozenset({("cnry private", 0x01)})
    Deidentifier(
        Pseudonyms(KEY), DeidOptions(frozenset({Option.RETAIN_SAFE_PRIVATE}), listed)
    ).apply(ds)
    private = {elem.tag for elem in ds if elem.tag.group % 2}
    assert private == {0x00110010, 0x00111001}
    assert ds.DeidentificationMethodCodeSequence[1].CodeValue == "113111"


def test_overlays_and_curves_go_whole() -> None:
    ds, _ = make_dataset(1)
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60003000, "OW", b"\x01" * 8)
    ds.add_new(0x60004000, "LT", "overlay text")
    ds.add_new(0x50000005, "US", 1)
    _deid(ds)
    assert not [e for e in ds if e.tag.group in (0x6000, 0x5000)]


def test_deep_sequences_are_bounded_and_still_cleaned() -> None:
    ds = Dataset()
    node = ds
    for _ in range(40):
        item = Dataset()
        item.PatientName = "CNRYDEEP^NAME"
        node.ContentSequence = Sequence([item])  # D on ContentSequence: one dummy item
        node = item
    _deid(ds)
    assert b"CNRYDEEP" not in _text(ds)


def test_burned_in_verdicts() -> None:
    ds, _ = make_dataset(2)  # US with Burned In Annotation YES
    assert Deidentifier(Pseudonyms(KEY), DeidOptions()).apply(ds).burned_in is BurnedIn.DECLARED
    ct, _ = make_dataset(0)
    assert Deidentifier(Pseudonyms(KEY), DeidOptions()).apply(ct).burned_in is BurnedIn.UNLIKELY
    xa, _ = make_dataset(4)  # XA, nothing declared
    assert Deidentifier(Pseudonyms(KEY), DeidOptions()).apply(xa).burned_in is BurnedIn.LIKELY
