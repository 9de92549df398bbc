"""De-identification of the real DICOM files that pip packages ship (~235 files, many
modalities, transfer syntaxes and vendors): every file written or reported, no original
identifier left in any header, outputs readable by pydicom and by DCMTK without new errors."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from pacsaudit.deid.profile import DeidOptions
from pacsaudit.deid.run import DeidPlan, DeidResult, run_deid
from pacsaudit.inspection.files import FileError
from pacsaudit.inspection.inspect import inspect_paths

# Found by globbing the installed packages: pydicom.data.get_testdata_files() would try the
# network for its external files.
PACKAGES = {"pydicom": "data/test_files", "data_store": "data", "deid_data": "data"}
IDENTIFIERS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)
# pydicom warns with the values it reads; keep them out of the test report.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
_MIN_VALUE = 6  # shorter values ("CT", "Test") can appear anywhere by chance


def _roots() -> list[Path]:
    roots = []
    for package, sub in PACKAGES.items():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            pytest.skip(f"{package} is not installed (pip install -e '.[dev]')")
        roots.append(Path(spec.origin).parent / sub)
    return roots


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path, DeidResult]]:
    out = tmp_path_factory.mktemp("real-out")
    return [
        (root, out / str(i), run_deid(DeidPlan(root, out / str(i), DeidOptions(), b"k" * 32, 2)))
        for i, root in enumerate(_roots())
    ]


def _written(runs: list[tuple[Path, Path, DeidResult]]) -> list[tuple[Path, Path]]:
    return [
        (root / f.path, out / f.path)
        for root, out, result in runs
        for f in result.files
        if f.status == "written"
    ]


def test_every_file_is_written_or_reported(runs: list[tuple[Path, Path, DeidResult]]) -> None:
    written = _written(runs)
    assert len(written) >= 230
    skipped = [f for _, _, r in runs for f in r.files if f.status == "skipped"]
    assert {f.error for f in skipped} <= {
        FileError.NOT_DICOM,
        FileError.TRUNCATED,
        FileError.DICOMDIR,
        FileError.WRONG_TRANSFER_SYNTAX,
    }
    names = {Path(f.path).name: f.error for f in skipped}
    assert names["MR_truncated.dcm"] == FileError.TRUNCATED
    assert names["emri_small_jpeg_2k_lossless_too_short.dcm"] == FileError.TRUNCATED
    assert names["README.md"] == FileError.NOT_DICOM
    # declares explicit VR, holds implicit VR: dcmdump cannot read it either
    assert names["SC_rgb_jpeg.dcm"] == FileError.WRONG_TRANSFER_SYNTAX


def _header_bytes(path: Path) -> bytes:
    """The file without its pixel data, which is copied unchanged and may hold any bytes."""
    data = path.read_bytes()
    ds = pydicom.dcmread(path, force=True)
    pixels = ds.get("PixelData")
    return data.replace(pixels, b"", 1) if isinstance(pixels, bytes) and pixels else data


def test_no_original_identifier_left(runs: list[tuple[Path, Path, DeidResult]]) -> None:
    leaks = []
    for source, target in _written(runs):
        original = pydicom.dcmread(source, stop_before_pixels=True, force=True)
        values = {
            str(v)
            for keyword in IDENTIFIERS
            for v in ([original.get(keyword)] if keyword in original else [])
            if v is not None and len(str(v).strip()) >= _MIN_VALUE
        }
        header = _header_bytes(target).lower()
        leaks += [(target.name, k) for k in values if k.strip().lower().encode() in header]
    assert leaks == []


def test_outputs_reread_and_marked(runs: list[tuple[Path, Path, DeidResult]]) -> None:
    for source, target in _written(runs):
        ds = pydicom.dcmread(target, force=True)
        assert ds.PatientIdentityRemoved == "YES"
        original = pydicom.dcmread(source, force=True)
        assert ds.get("PixelData") == original.get("PixelData"), target.name


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="DCMTK's dcmdump is not installed")
def test_dcmdump_finds_no_new_errors(runs: list[tuple[Path, Path, DeidResult]]) -> None:
    def errors(path: Path) -> tuple[int, int]:
        done = subprocess.run(
            ["dcmdump", "-dc", "+E", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
        )
        bad = [line for line in done.stderr.splitlines() if line.startswith("E:")]
        return done.returncode, len(bad)

    worse = []
    for source, target in _written(runs):
        before, after = errors(source), errors(target)
        if after[0] > before[0] or after[1] > before[1]:
            worse.append((target.name, before, after))
    assert worse == []


def test_inspect_finds_nothing_identifying(runs: list[tuple[Path, Path, DeidResult]]) -> None:
    outs = [out for _, out, _ in runs]
    summary = inspect_paths(outs, jobs=2).summary
    assert summary.dicom_files == len(_written(runs))
    assert summary.identifying_attributes == 0
    assert summary.files_with_identifying == 0
    assert summary.burned_in.declared + summary.burned_in.likely > 0  # the US files
    before = inspect_paths(_roots(), jobs=2).summary
    assert before.files_with_identifying > 200  # the same files before: a real finding
