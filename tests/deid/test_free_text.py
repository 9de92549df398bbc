"""Default-deny for free text the table does not name, D on sequences, and the file meta."""

from __future__ import annotations

import copy

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from pacsaudit.deid.canary import Category, find_canaries, make_dataset
from pacsaudit.deid.keys import Pseudonyms
from pacsaudit.deid.profile import Deidentifier, DeidOptions
from pacsaudit.deid.structural import (
    FILE_META_KEPT,
    FREE_TEXT_VRS,
    NAME_BEARING_CS,
    STRUCTURAL_TEXT,
)
from pacsaudit.measure.annex_e import Option, load_table
from pacsaudit.measure.codes import meaning

KEY = bytes(range(32))


def _deid(ds: Dataset, *options: Option) -> Dataset:
    Deidentifier(Pseudonyms(KEY), DeidOptions(frozenset(options))).apply(ds)
    return ds


def _blob(ds: Dataset) -> bytes:
    parts = [str(e.value) for e in ds.iterall() if e.VR != "SQ" and e.tag != 0x7FE00010]
    meta = getattr(ds, "file_meta", None)
    parts += [str(e.value) for e in meta or []]
    return "\n".join(parts).encode("utf-8", "replace")


def _free_text(entry_canaries: dict[str, list[str]]) -> list[str]:
    return entry_canaries[Category.FREE_TEXT]


def test_no_free_text_canary_survives_the_basic_profile() -> None:
    ds, entry = make_dataset(3)
    _deid(ds)
    assert find_canaries(_blob(ds), _free_text(entry.canaries)) == []
    assert ds.DocumentTitle == "ANONYMIZED"
    assert ds.TextValue == "ANONYMIZED"  # a top-level Text Value, not in the table
    assert ds.SourceImageSequence[0].ReferencedFileID == "ANONYMIZED"  # CS holding names
    assert ds.ProcedureCodeSequence[0].CodeMeaning == "ANONYMIZED"  # a code no scheme knows
    assert ds.ProcedureCodeSequence[0].CodeValue == "CT1"  # structural: kept


def test_d_on_a_sequence_is_one_dummy_item() -> None:
    ds, _ = make_dataset(1)
    _deid(ds)
    assert len(ds.ContentSequence) == 1
    assert len(ds.ContentSequence[0]) == 0  # no original item survives, at any depth


def test_clean_structured_content_keeps_the_tree_cleaned_item_by_item() -> None:
    ds, entry = make_dataset(4)
    family = entry.canaries[Category.IDENTITY][0]
    person = Dataset()
    person.RelationshipType, person.ValueType = "HAS OBS CONTEXT", "PNAME"
    person.PersonName = "CNRYSRNAME^OBSERVER"
    when = Dataset()
    when.RelationshipType, when.ValueType = "HAS OBS CONTEXT", "DATETIME"
    when.DateTime = "20170203101500"
    ref = Dataset()
    ref.RelationshipType, ref.ValueType = "HAS OBS CONTEXT", "UIDREF"
    ref.UID = "1.2.826.0.1.3680043.10.999.77"
    ds.ContentSequence[1].ContentSequence.extend([person, when, ref])
    _deid(ds, Option.CLEAN_STRUCTURED_CONTENT)
    first = ds.ContentSequence[0]
    deep = ds.ContentSequence[1].ContentSequence[0].ContentSequence[0]
    assert first.TextValue.startswith("patient told ")  # kept, depth 1
    assert deep.TextValue.endswith("called about *")  # the patient's name cleaned, depth 3
    assert family.lower().encode() not in _blob(ds).lower()
    context = ds.ContentSequence[1].ContentSequence
    assert context[1].PersonName != "CNRYSRNAME^OBSERVER"  # D: a keyed pseudonym
    assert context[2].DateTime == "19000101000000"  # D: a fixed dummy
    assert context[3].UID.startswith("2.25.")  # an unregistered UID: replaced
    # other text keeps what the option keeps: the top level is not structured content
    assert ds.TextValue == "ANONYMIZED"
    assert ds.DocumentTitle == "ANONYMIZED"


def test_clean_graphics_keeps_annotation_text_cleaned() -> None:
    ds, entry = make_dataset(2)
    family = entry.canaries[Category.IDENTITY][0]
    text = Dataset()
    text.UnformattedTextValue = f"arrow: {family}"
    layer = Dataset()
    layer.GraphicLayer = "LAYER1"
    layer.TextObjectSequence = Sequence([text])
    ds.GraphicAnnotationSequence = Sequence([layer])
    _deid(ds, Option.CLEAN_GRAPHICS)
    assert ds.GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue == (
        "arrow: *"
    )
    _deid(plain := make_dataset(2)[0])
    assert "GraphicAnnotationSequence" not in plain  # the canary has none; nothing added


def test_code_meaning_becomes_the_schemes_own() -> None:
    ds = Dataset()
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator = "121106", "DCM"
    item.CodeMeaning = "Comment by CNRYNURSE"
    ds.ConceptNameCodeSequence = Sequence([item])
    _deid(ds)
    assert ds.ConceptNameCodeSequence[0].CodeMeaning == meaning("DCM", "121106") == "Comment"


def test_free_text_is_denied_at_every_depth() -> None:
    ds = Dataset()
    node = ds
    for _ in range(5):  # an unlisted sequence inside an unlisted sequence ...
        item = Dataset()
        item.ReasonForTheRequestedProcedure = "x"
        node.ReferencedRequestSequence = Sequence([item])
        node = item
    node.ImageComments = "CNRYDEEP"  # in the table: X
    node.DocumentTitle = "CNRYDEEPTITLE"  # not in the table: dummied
    _deid(ds)
    assert b"CNRYDEEP" not in _blob(ds)


def test_unknown_even_tags_are_removed() -> None:
    ds = Dataset()
    tag = Tag(0x0070, 0xEEEE)
    try:
        dictionary_VR(tag)
        raise AssertionError("pick a tag the dictionary does not know")
    except KeyError:
        pass
    ds[tag] = RawDataElement(tag, "UN", 8, b"CNRYUNKN", 0, False, True)
    ds.Manufacturer = "ACME"
    _deid(ds)
    assert tag not in ds
    assert ds.Manufacturer == "ACME"  # structural: kept
    sr = Dataset()
    item = Dataset()
    item[tag] = RawDataElement(tag, "UN", 8, b"CNRYUNKN", 0, False, True)
    sr.ContentSequence = Sequence([item])
    _deid(sr, Option.CLEAN_STRUCTURED_CONTENT)
    assert tag not in sr.ContentSequence[0]  # not even in content an option keeps


def test_file_meta_keeps_only_encoding_and_writer() -> None:
    ds, _ = make_dataset(5)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.file_meta.ImplementationClassUID = "1.2.3.4"
    ds.file_meta.ImplementationVersionName = "WRITER_1"
    ds.file_meta.SourceApplicationEntityTitle = "CNRYAETITLE"
    ds.file_meta.SendingApplicationEntityTitle = "CNRYSENDER"
    ds.file_meta.PrivateInformationCreatorUID = "1.2.3.4.5"
    ds.file_meta.PrivateInformation = b"CNRYPRIVATE "
    original = copy.deepcopy(ds.file_meta)
    _deid(ds)
    assert {int(e.tag) for e in ds.file_meta} <= set(FILE_META_KEPT)
    assert ds.file_meta.ImplementationVersionName == "WRITER_1"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID  # replaced alike
    device, _ = make_dataset(5)
    device.file_meta = original
    _deid(device, Option.RETAIN_DEVICE_IDENTITY)
    assert device.file_meta.SourceApplicationEntityTitle == "CNRYAETITLE"
    assert "PrivateInformation" not in device.file_meta


def test_the_allow_lists_are_what_they_say() -> None:
    """Structural entries are text the table does not name (else the table decides); the
    name-bearing CS entries are CS; nothing is in both."""
    table = load_table()
    for tag in STRUCTURAL_TEXT:
        assert table.lookup(tag) is None, hex(tag)
        assert dictionary_VR(tag) in FREE_TEXT_VRS, hex(tag)
    for tag in NAME_BEARING_CS:
        assert table.lookup(tag) is None, hex(tag)
        assert dictionary_VR(tag) == "CS", hex(tag)
    assert not set(STRUCTURAL_TEXT) & set(NAME_BEARING_CS)
