"""Open directory listings and WebDAV walked as file shares, against real servers: nginx
``autoindex``, nginx WebDAV (``dav-ext``: PROPFIND, OPTIONS) and Python's ``http.server``
(which ignores ``Range``), all on loopback with free ports (``tests/web_servers.py``).

The tree is synthetic: 20 DICOM files of the lab's generator in folders named after their
patients, a large file that is not DICOM, and a PE/DICOM polyglot where a test asks for one.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pydicom import dcmread

from pacsaudit.lab.synth import CorpusSpec, generate_corpus
from pacsaudit.measure.classify import classify_all
from pacsaudit.model import (
    COMPROMISE_PROTOCOL,
    CompromiseResult,
    ExposureClass,
    FileShareResult,
    Finding,
    HttpResult,
    Severity,
    Status,
)
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.http.options import HttpOptions
from pacsaudit.probes.http.probe import HttpProbe
from pacsaudit.report.build import write_report
from pacsaudit.report.table import findings_table
from pacsaudit.targets.spec import Target
from web_servers import running_http_server, running_nginx

DICOM_FILES = 20
BIG = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], int]:
    """``(root, secrets, bytes)``: 20 DICOM files under patient-named folders, one 3 MiB blob;
    ``secrets`` are the canaries and the folder names, none of which may reach a finding."""
    base = tmp_path_factory.mktemp("weblisting")
    manifest = generate_corpus(base / "corpus", CorpusSpec(patients=4, studies=8, seed=11))
    files = sorted(manifest.files)[:DICOM_FILES]
    assert len(files) == DICOM_FILES
    root = base / "tree"
    secrets = set(manifest.canaries)
    for n, path in enumerate(files):
        family = str(dcmread(path, stop_before_pixels=True).PatientName).split("^")[0]
        folder = root / "studies" / f"{family}_{n % 4}" / "series"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / f"IMG{n:04d}.dcm")
        secrets.add(family)
    (root / "backup").mkdir()
    (root / "backup" / "archive.bin").write_bytes(b"\x01" * BIG)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return root, secrets, total


def probe(**walk: Any) -> HttpProbe:
    return HttpProbe(HttpOptions(budget=20.0, walk=WalkOptions(**walk)))


def scan(port: int, p: HttpProbe | None = None) -> list[Finding]:
    finding = asyncio.run((p or probe()).scan(Target("127.0.0.1", port)))
    return classify_all([finding])


def web(findings: list[Finding]) -> tuple[HttpResult, FileShareResult]:
    first = findings[0]
    assert first.status is Status.HTTP, first
    assert isinstance(first.result, HttpResult)
    assert first.result.listing is not None, first.result
    return first.result, first.result.listing


def assert_no_secrets(findings: list[Finding], secrets: set[str]) -> None:
    text = msgspec.json.encode(findings).decode()
    leaked = [s for s in secrets if s in text]
    assert leaked == []
    assert "IMG0" not in text
    assert "archive.bin" not in text
    assert "series" not in text


def test_nginx_autoindex_of_dicom_files_is_exposed_imaging(
    tree: tuple[Path, set[str], int], tmp_path: Path
) -> None:
    root, secrets, _ = tree
    with running_nginx(tmp_path, root, dav=False) as port:
        findings = scan(port)
    result, share = web(findings)
    assert result.listing_format == "nginx-autoindex"
    assert result.exposure_class is ExposureClass.PHI_READABLE
    assert result.severity is Severity.CRITICAL
    assert share.exposure_class is ExposureClass.PHI_READABLE
    assert (share.files, share.dicom_files, share.headers_sampled) == (21, 20, 20)
    assert share.dicom_detection == "magic"
    assert share.phi_attributes["PatientName"] == 20
    assert share.samples_in_named_paths == 20  # the folders carry the patients' names
    assert share.bounds_hit == []
    assert not share.lower_bound
    assert share.bytes_read < 20 * 64 * 1024  # ranged reads: never the 3 MiB file
    assert_no_secrets(findings, secrets)


def test_nginx_autoindex_without_samples_is_retrievable(
    tree: tuple[Path, set[str], int], tmp_path: Path
) -> None:
    root, _, _ = tree
    with running_nginx(tmp_path, root, dav=False) as port:
        result, share = web(scan(port, probe(max_samples=0)))
    assert result.exposure_class is ExposureClass.RETRIEVABLE
    assert result.severity is Severity.HIGH
    assert share.dicom_files == 20
    assert share.headers_sampled == 0
    assert share.bytes_read == 21 * 132  # one `Range: bytes=0-131` per file, nothing more


def test_nginx_webdav(tree: tuple[Path, set[str], int], tmp_path: Path) -> None:
    root, secrets, total = tree
    with running_nginx(tmp_path, root, dav=True) as port:
        findings = scan(port)
    result, share = web(findings)
    assert result.listing_format == "webdav"
    assert result.status_code == 403  # GET of a folder is refused, PROPFIND is not
    assert result.exposure_class is ExposureClass.PHI_READABLE
    assert (share.files, share.dicom_files, share.headers_sampled) == (21, 20, 20)
    assert share.bytes == total  # getcontentlength: exact sizes
    assert share.bytes_read < 20 * 64 * 1024
    assert any(e.purpose == "webdav-options" and e.status_code == 200 for e in result.exchanges)
    assert_no_secrets(findings, secrets)


def test_http_server_ignores_range_and_is_read_only_as_far_as_needed(
    tree: tuple[Path, set[str], int], tmp_path: Path
) -> None:
    root, secrets, total = tree
    with running_http_server(tmp_path, root) as port:
        findings = scan(port)
    result, share = web(findings)
    assert result.listing_format == "python-http-server"
    assert (share.files, share.dicom_files, share.headers_sampled) == (21, 20, 20)
    assert share.exposure_class is ExposureClass.PHI_READABLE
    # 200 instead of 206: the 3 MiB file is read for its first 132 bytes, then dropped.
    assert share.bytes_read < total - BIG + 4096
    assert_no_secrets(findings, secrets)


@pytest.mark.parametrize(
    ("bound", "walk", "check"),
    [
        ("max-depth", {"max_depth": 2}, lambda s: s.dicom_files == 0),
        ("max-entries", {"max_entries": 6}, lambda s: s.lower_bound),
        ("max-reads", {"max_reads": 3}, lambda s: s.files_read == 3),
        ("time-budget", {"budget": 0.3}, lambda s: s.lower_bound),
    ],
)
def test_walk_bounds_on_nginx(
    tree: tuple[Path, set[str], int], tmp_path: Path, bound: str, walk: dict[str, Any], check: Any
) -> None:
    root, _, _ = tree
    with running_nginx(tmp_path, root, dav=False) as port:
        _, share = web(scan(port, probe(**walk)))
    assert bound in share.bounds_hit
    assert check(share)


def test_max_samples_on_webdav(tree: tuple[Path, set[str], int], tmp_path: Path) -> None:
    root, _, _ = tree
    with running_nginx(tmp_path, root, dav=True) as port:
        _, share = web(scan(port, probe(max_samples=2)))
    assert share.headers_sampled == 2
    assert share.dicom_files == 20


def test_identify_depth_recognises_without_walking(
    tree: tuple[Path, set[str], int], tmp_path: Path
) -> None:
    root, _, _ = tree
    with running_nginx(tmp_path, root, dav=False) as port:
        findings = scan(port, HttpProbe(HttpOptions(enumerate=False)))
    result = findings[0].result
    assert isinstance(result, HttpResult)
    assert result.listing_format == "nginx-autoindex"
    assert result.listing is None
    assert result.exposure_class is ExposureClass.ANONYMOUS_ACCESS  # a listing, not walked


def test_executable_dicom_on_a_listing_is_a_sign_of_compromise(
    tree: tuple[Path, set[str], int], tmp_path: Path
) -> None:
    root, _, _ = tree
    served = tmp_path / "tree"
    shutil.copytree(root / "studies", served)
    victim = next(served.rglob("*.dcm"))
    data = victim.read_bytes()
    victim.write_bytes(b"MZ\x90\x00" + data[4:])
    with running_nginx(tmp_path / "nginx", served, dav=False) as port:
        findings = scan(port)
    assert [f.protocol for f in findings] == ["http", COMPROMISE_PROTOCOL]
    _, share = web(findings)
    assert share.executable_dicom == 1
    compromise = findings[1].result
    assert isinstance(compromise, CompromiseResult)
    assert compromise.share_protocol == "http"
    assert [h.indicator for h in compromise.indicators] == ["executable-dicom"]


def test_reports_carry_the_listing(tree: tuple[Path, set[str], int], tmp_path: Path) -> None:
    root, secrets, _ = tree
    with running_nginx(tmp_path / "nginx", root, dav=False) as port:
        findings = scan(port)
    jsonl = tmp_path / "findings.jsonl"
    jsonl.write_bytes(b"".join(msgspec.json.encode(f) + b"\n" for f in findings))
    written = write_report([jsonl], tmp_path / "report")
    csv = (tmp_path / "report" / "findings.csv").read_text("utf-8")
    header, row = csv.splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(","), strict=False))
    assert cells["exposure_class"] == "phi-readable"
    assert cells["images"] == "20"
    html = (tmp_path / "report" / "report.html").read_text("utf-8")
    assert "phi-readable" in html
    table = findings_table(findings, {"http": 1})
    rows = [[str(c) for c in col.cells] for col in table.columns]
    assert any("nginx-autoindex" in cell for cell in rows[0])
    assert any("20 DICOM" in cell for col in rows for cell in col)
    for path in written.paths:
        text = path.read_text("utf-8", errors="replace")
        assert not [s for s in secrets if s in text]


def test_debug_logs_hold_no_path(
    tree: tuple[Path, set[str], int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs every URL at INFO: the walk's URLs are folder names, which name patients."""
    root, secrets, _ = tree
    caplog.set_level(logging.DEBUG)
    with running_nginx(tmp_path, root, dav=True) as port:
        _, share = web(scan(port))
    assert share.dicom_files == 20
    assert "IMG0" not in caplog.text
    assert [s for s in secrets if s in caplog.text] == []
