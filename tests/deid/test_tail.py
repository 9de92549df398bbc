"""Pixel data copied as bytes: only when nothing but pixel data follows the header."""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from pacsaudit.deid import run as deid_run
from pacsaudit.deid.canary import find_canaries, make_dataset
from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import DeidPlan, run_deid
from pacsaudit.deid.tail import pixel_tail
from pacsaudit.inspection.files import read_header

KEY = bytes(range(32))


def _save(path: Path, syntax: str, *, index: int = 0, encapsulated: bool = False) -> bytes:
    ds, _ = make_dataset(index, rows=64)
    if encapsulated:
        ds.PixelData = encapsulate([bytes(range(256)) * 10, b"\xff\xd9" * 7])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = syntax
    big = syntax == ExplicitVRBigEndian
    ds.save_as(
        path,
        implicit_vr=syntax == ImplicitVRLittleEndian,
        little_endian=not big,
        enforce_file_format=True,
    )
    return bytes(ds.PixelData)


def _tail_of(path: Path) -> bool:
    header = read_header(path)
    implicit, little = header.dataset.original_encoding
    assert implicit is not None
    assert little is not None
    fd = os.open(path, os.O_RDONLY)
    try:
        return pixel_tail(
            fd, header.pixel_offset, header.size, implicit_vr=implicit, little_endian=little
        )
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("syntax", "encapsulated"),
    [
        (ExplicitVRLittleEndian, False),
        (ImplicitVRLittleEndian, False),
        (ExplicitVRBigEndian, False),
        (JPEGBaseline8Bit, True),
    ],
)
def test_pixel_data_is_copied_as_bytes(
    tmp_path: Path, syntax: str, encapsulated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    pixels = _save(src / "a.dcm", syntax, encapsulated=encapsulated)
    assert _tail_of(src / "a.dcm")
    full_reads: list[Path] = []
    real = deid_run.read_dicom

    def spy(path: Path, *, header_only: bool) -> object:
        full_reads.append(path)
        return real(path, header_only=header_only)

    monkeypatch.setattr(deid_run, "read_dicom", spy)
    run_deid(DeidPlan(src, out, DeidOptions(), KEY))
    assert full_reads == []  # the fast path: the pixel data was never decoded
    ds = pydicom.dcmread(out / "a.dcm")
    assert bytes(ds.PixelData) == pixels
    assert ds.PatientIdentityRemoved == "YES"
    data = (out / "a.dcm").read_bytes()
    # the input's own pixel element, up to the Sequence Delimitation Item when encapsulated
    assert data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" if encapsulated else pixels)


@pytest.mark.parametrize("trailer", ["private", "padding"])
def test_anything_after_pixel_data_goes_through_the_profile(tmp_path: Path, trailer: str) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    ds, _ = make_dataset(1, rows=64)
    if trailer == "private":  # a private group after Pixel Data, as some vendors write
        block = ds.private_block(0x7FE1, "CNRY TRAILER", create=True)
        block.add_new(0x01, "LO", "CNRYTRAILER")
    else:
        ds.add_new(0xFFFCFFFC, "OB", b"CNRYTRAILER ")
    ds.save_as(src / "a.dcm", implicit_vr=True, little_endian=True)
    assert not _tail_of(src / "a.dcm")
    result = run_deid(DeidPlan(src, out, DeidOptions(), KEY))
    assert result.summary.written == 1
    assert find_canaries((out / "a.dcm").read_bytes(), ["CNRYTRAILER"]) == []


def test_a_cut_tail_is_never_copied(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _save(src / "a.dcm", ExplicitVRLittleEndian)
    data = (src / "a.dcm").read_bytes()
    (src / "a.dcm").write_bytes(data[:-100])
    result = run_deid(DeidPlan(src, out, DeidOptions(), KEY))
    assert result.summary.skipped == {"truncated": 1}
    assert not list(out.glob("*.dcm"))


def test_hostile_item_lengths_end_the_walk(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    # (7FE0,0010) OB undefined length, then an item whose length runs past the end
    path.write_bytes(
        b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0" + b"\xff\xff\xff\x7f"
    )
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        assert not pixel_tail(fd, 0, size, implicit_vr=False, little_endian=True)
    finally:
        os.close(fd)


def test_a_folder_made_by_another_worker_meanwhile_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers mirror the same new series folder: the one whose mkdir -p loses the race
    (the folder appears between its two mkdir calls) must not skip the file."""
    real = os.mkdir
    target = tmp_path / "out" / "patient" / "series"

    def racing(path: os.PathLike[str] | str, mode: int = 0o777) -> None:
        if Path(path) == target and not Path(path).parent.exists():
            raise FileNotFoundError(path)
        if Path(path) == target and not Path(path).exists():
            real(path, mode)  # the other worker, just before us
        real(path, mode)

    monkeypatch.setattr(deid_run.os, "mkdir", racing)
    deid_run._made.clear()
    deid_run._make_folder(target)
    assert target.is_dir()


def test_large_files_are_spread_over_every_worker(tmp_path: Path) -> None:
    from pacsaudit.files.read import Candidate

    def work(n: int, size: int) -> list[tuple[Candidate, None]]:
        return [(Candidate(tmp_path, tmp_path, Path(f"{i}"), size, True), None) for i in range(n)]

    assert deid_run.chunk_size(work(5000, 11_000), 2) == 32  # small files: few round trips
    assert deid_run.chunk_size(work(12, 52_000_000), 2) == 1  # one multi-frame file per task
    assert deid_run.chunk_size(work(300, 527_000), 2) == 18  # eight tasks per worker at least
    assert deid_run.chunk_size([], 2) == 1
