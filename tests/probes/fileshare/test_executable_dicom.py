"""CVE-2019-11687: DICOM files with a PE or ELF program in their preamble, on a share and in
``inspect``. The files are synthetic: a valid DICOM header after a preamble that starts with
the executable's magic (no program code at all)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from pacsaudit.inspection.inspect import inspect_paths
from pacsaudit.lab.synth import CorpusSpec, generate_corpus
from pacsaudit.measure import polyglot
from pacsaudit.measure.classify import classify_all
from pacsaudit.model import COMPROMISE_PROTOCOL, CompromiseResult, Finding, Status
from pacsaudit.probes.fileshare.indicators import shipped_indicators
from pacsaudit.probes.fileshare.options import PREAMBLE, WalkOptions
from pacsaudit.probes.fileshare.walk import WalkTally, walk_share
from probes.fileshare.test_walk import FakeShare

PE_HEAD = b"MZ\x90\x00\x03\x00\x00\x00"  # the MS-DOS header's first bytes
ELF_HEAD = b"\x7fELF\x02\x01\x01\x00"


def polyglot_of(dicom: bytes, head: bytes) -> bytes:
    """The file with its preamble's start replaced, as a polyglot builder writes it."""
    return head + dicom[len(head) : PREAMBLE] + dicom[PREAMBLE:]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    out = tmp_path_factory.mktemp("exe")
    manifest = generate_corpus(out, CorpusSpec(patients=1, studies=2, seed=3))
    return [p.read_bytes() for p in manifest.files]


@pytest.mark.parametrize(
    ("head", "kind"),
    [(PE_HEAD, "pe"), (ELF_HEAD, "elf"), (b"\0" * 8, None), (b"II*\x00", None), (b"", None)],
)
def test_preamble_magic(head: bytes, kind: str | None) -> None:
    assert polyglot.executable_preamble(head + b"\0" * 130) == kind


def test_share_walk_flags_and_counts_apart(images: list[bytes]) -> None:
    files = {
        "a/plain.dcm": images[0],
        "a/pe.dcm": polyglot_of(images[1], PE_HEAD),
        "b/elf": polyglot_of(images[2], ELF_HEAD),
        "b/not-dicom.exe": PE_HEAD + b"\0" * 300,  # a program, not an image: no polyglot
    }
    opts = WalkOptions()
    tally = WalkTally(opts, shipped_indicators(), time.monotonic() + opts.budget)

    async def run() -> None:
        await walk_share(FakeShare(files), tally.share("images"), tally)

    asyncio.run(run())
    result = tally.result(server="fake", login="anonymous", anonymous=True)
    assert result.dicom_files == 3
    assert result.executable_dicom == 2
    hits = [h for h in result.indicators if h.indicator == polyglot.EXECUTABLE_DICOM]
    assert len(hits) == 1
    assert hits[0].count == 2
    assert hits[0].category == "executable-dicom"
    assert "CVE-2019-11687" in hits[0].source
    finding = Finding(
        ip="127.0.0.1", port=21, protocol="ftp", status=Status.FTP, timestamp="t", result=result
    )
    judged = classify_all([finding])
    assert [f.protocol for f in judged] == ["ftp", COMPROMISE_PROTOCOL]
    compromise = judged[1].result
    assert isinstance(compromise, CompromiseResult)
    assert compromise.indicators[0].indicator == polyglot.EXECUTABLE_DICOM
    assert "pe.dcm" not in msgspec.json.encode(judged).decode()


def test_inspect_counts_executable_files(images: list[bytes], tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "plain.dcm").write_bytes(images[0])
    (root / "pe.dcm").write_bytes(polyglot_of(images[1], PE_HEAD))
    (root / "elf.dcm").write_bytes(polyglot_of(images[2], ELF_HEAD))
    summary = inspect_paths([root]).summary
    assert summary.dicom_files == 3
    assert summary.executable_dicom_files == 2
    assert summary.executable_dicom_source is not None
    assert "CVE-2019-11687" in summary.executable_dicom_source


def test_inspect_clean_files_have_no_source(images: list[bytes], tmp_path: Path) -> None:
    (tmp_path / "plain.dcm").write_bytes(images[0])
    summary = inspect_paths([tmp_path]).summary
    assert summary.executable_dicom_files == 0
    assert summary.executable_dicom_source is None
