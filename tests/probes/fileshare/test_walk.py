"""The shared walk, DICOM detection, DICOMDIR counting and indicators, on an in-memory share.

The fake share is a dict of paths; every bound of :class:`WalkOptions` is driven past its limit
and must be recorded, never fatal, and no name or value may reach the result.
"""

from __future__ import annotations

import asyncio
import time
from io import BytesIO

import msgspec
import pytest
from pydicom import dcmread
from pydicom.fileset import FileSet

from pacsaudit.lab.synth import CorpusSpec, generate_corpus
from pacsaudit.measure.classify import judge_fileshare
from pacsaudit.measure.severity import fileshare_exposure_class
from pacsaudit.model import ExposureClass, FileShareResult, Severity, ShareAccess
from pacsaudit.probes.fileshare.dicomfile import (
    count_dicomdir,
    is_dicom,
    pixel_data_offset,
    sample_header,
)
from pacsaudit.probes.fileshare.ftp import _list_entry, _mlsd_entry
from pacsaudit.probes.fileshare.indicators import parse_indicators, shipped_indicators
from pacsaudit.probes.fileshare.walk import (
    Entry,
    EntryError,
    EntryKind,
    Listing,
    WalkOptions,
    WalkTally,
    Want,
    looks_like_dicom_name,
    walk_share,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], set[str]]:
    out = tmp_path_factory.mktemp("corpus")
    manifest = generate_corpus(out, CorpusSpec(patients=2, studies=3, seed=7))
    return [p.read_bytes() for p in manifest.files], manifest.canaries


class FakeShare:
    """Folders are tuples of names; files hold bytes. ``identity`` makes a folder a loop."""

    can_read = True

    def __init__(self, files: dict[str, bytes], *, links: dict[str, str] | None = None) -> None:
        self.files = {tuple(k.split("/")): v for k, v in files.items()}
        self.links = {
            tuple(k.split("/")): tuple(v.split("/")) if v else () for k, v in (links or {}).items()
        }
        self.denied: set[tuple[str, ...]] = set()
        self.broken_after: int | None = None
        self.delay = 0.0
        self.reads: list[int] = []
        self.calls = 0

    def _resolve(self, path: tuple[str, ...]) -> tuple[str, ...]:
        for n in range(len(path), 0, -1):
            if path[:n] in self.links:
                return self._resolve(self.links[path[:n]] + path[n:])
        return path

    def _children(self, path: tuple[str, ...]) -> dict[str, Entry]:
        real = self._resolve(path)
        out: dict[str, Entry] = {}
        for f, data in self.files.items():
            if f[: len(real)] == real and len(f) > len(real):
                name = f[len(real)]
                if len(f) == len(real) + 1:
                    out[name] = Entry(name, EntryKind.FILE, size=len(data))
                else:
                    ident = "/".join((*real, name))
                    out[name] = Entry(name, EntryKind.DIR, identity=ident, mode=0o755)
        for link, dest in self.links.items():
            if link[:-1] == real:
                out[link[-1]] = Entry(link[-1], EntryKind.DIR, identity="/".join(dest))
        return out

    async def list_dir(self, path: tuple[str, ...], limit: int) -> Listing:
        await self._tick()
        if self._resolve(path) in self.denied:
            raise EntryError("denied")
        entries = list(self._children(path).values())
        return Listing(entries[:limit], truncated=len(entries) > limit)

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        await self._tick()
        data = self.files[self._resolve(path)]
        buffer = b""
        while len(buffer) < want(buffer):
            chunk = data[len(buffer) : len(buffer) + min(4096, want(buffer) - len(buffer))]
            if not chunk:
                self.reads.append(len(buffer))
                return buffer, True
            buffer += chunk
        self.reads.append(len(buffer))
        return buffer, len(buffer) >= len(data)

    async def _tick(self) -> None:
        self.calls += 1
        if self.broken_after is not None and self.calls > self.broken_after:
            raise ConnectionResetError(104, "reset")
        if self.delay:
            await asyncio.sleep(self.delay)


def walk(share: FakeShare, **options: float) -> FileShareResult:
    opts = WalkOptions(**options)  # type: ignore[arg-type]
    tally = WalkTally(opts, shipped_indicators(), time.monotonic() + opts.budget)

    async def run() -> None:
        await walk_share(share, tally.share("s"), tally)

    asyncio.run(run())
    return judge_fileshare(tally.result(server="fake", login="anonymous", anonymous=True))


def tree(corpus: tuple[list[bytes], set[str]]) -> dict[str, bytes]:
    files, _ = corpus
    out = {f"CNRYNAME{n}/study/{n}.dcm": data for n, data in enumerate(files)}
    out["notes/readme.txt"] = b"hello" * 40
    out["notes/fake.dcm"] = b"not dicom at all " * 20
    out["notes/short.dcm"] = b"tiny"
    out["notes/cut.dcm"] = files[0][:600]
    return out


class TestDetection:
    def test_magic(self, corpus: tuple[list[bytes], set[str]]) -> None:
        files, _ = corpus
        assert is_dicom(files[0][:132])
        assert not is_dicom(files[0][:131])
        assert not is_dicom(b"x" * 200)

    def test_sample_stops_at_pixels(self, corpus: tuple[list[bytes], set[str]]) -> None:
        data = corpus[0][0]
        offset = pixel_data_offset(data)
        assert offset is not None
        sample = sample_header(data)
        assert sample.reached_pixels
        assert sample.counts["PatientName"] == 1
        assert sample_header(data[:offset]).counts == sample.counts

    @pytest.mark.parametrize("cut", [0, 100, 131, 132, 200, 400, 700])
    def test_truncated_headers_never_raise(
        self, corpus: tuple[list[bytes], set[str]], cut: int
    ) -> None:
        sample = sample_header(corpus[0][0][:cut])
        assert not sample.reached_pixels
        assert sum(sample.counts.values()) >= 0

    def test_garbage_after_magic(self) -> None:
        data = b"\0" * 128 + b"DICM" + bytes(range(256)) * 8
        sample = sample_header(data)
        assert isinstance(sample.counts, dict)

    def test_dicom_names(self) -> None:
        assert looks_like_dicom_name("IMG.DCM")
        assert looks_like_dicom_name("DICOMDIR")
        assert looks_like_dicom_name("1.2.840.113619.2.55.3")
        assert not looks_like_dicom_name("report.pdf")


@pytest.fixture(scope="module")
def dicomdir(
    corpus: tuple[list[bytes], set[str]], tmp_path_factory: pytest.TempPathFactory
) -> bytes:
    fs = FileSet()
    for data in corpus[0]:
        fs.add(dcmread(BytesIO(data)))
    out = tmp_path_factory.mktemp("media")
    fs.write(out)
    return (out / "DICOMDIR").read_bytes()


class TestDicomdir:
    def test_counts(self, dicomdir: bytes, corpus: tuple[list[bytes], set[str]]) -> None:
        counts = count_dicomdir(dicomdir, complete=True)
        assert (counts.patients, counts.images) == (2, len(corpus[0]))
        assert counts.complete

    def test_truncated_is_a_lower_bound(self, dicomdir: bytes) -> None:
        full = count_dicomdir(dicomdir, complete=True)
        half = count_dicomdir(dicomdir[: len(dicomdir) // 2], complete=False)
        assert not half.complete
        assert half.images + half.series + half.studies + half.patients > 0
        assert half.images <= full.images
        assert half.patients <= full.patients

    def test_not_a_dicomdir(self) -> None:
        counts = count_dicomdir(b"plain text" * 30, complete=True)
        assert not counts.readable


class TestWalk:
    def test_counts_and_classes(self, corpus: tuple[list[bytes], set[str]]) -> None:
        files, canaries = corpus
        result = walk(FakeShare(tree(corpus)))
        assert result.files == len(files) + 4
        assert result.dicom_files == len(files) + 1  # the cut file still has its magic
        assert result.not_dicom_named_dicom == 2
        assert result.headers_sampled == len(files) + 1  # the cut file is sampled too
        assert result.headers_truncated == 0  # it ended before the byte limit
        assert result.phi_attributes["PatientName"] >= len(files)
        assert result.exposure_class is ExposureClass.PHI_READABLE
        assert result.severity is Severity.CRITICAL
        assert not result.lower_bound
        text = msgspec.json.encode(result).decode().lower()
        assert "cnryname" not in text  # folder names never reach the result
        assert not [c for c in canaries if c.lower() in text]

    def test_reads_are_bounded_prefixes(self, corpus: tuple[list[bytes], set[str]]) -> None:
        share = FakeShare(tree(corpus))
        result = walk(share, max_samples=0)
        assert result.headers_sampled == 0
        assert max(share.reads) <= 4096  # the magic only (indicator content reads excepted)
        assert result.exposure_class is ExposureClass.RETRIEVABLE
        share = FakeShare(tree(corpus))
        walk(share, max_header_bytes=1000)
        assert max(share.reads) <= 1000

    def test_max_depth(self, corpus: tuple[list[bytes], set[str]]) -> None:
        result = walk(FakeShare(tree(corpus)), max_depth=1)
        assert result.bounds_hit == ["max-depth"]
        assert result.lower_bound
        assert result.dicom_lower_bound
        assert result.dicom_files == 1  # only notes/cut.dcm is within one level

    def test_max_entries(self, corpus: tuple[list[bytes], set[str]]) -> None:
        result = walk(FakeShare(tree(corpus)), max_entries=3)
        assert "max-entries" in result.bounds_hit
        assert result.files + result.directories <= 3 + 1

    def test_max_reads(self, corpus: tuple[list[bytes], set[str]]) -> None:
        result = walk(FakeShare(tree(corpus)), max_reads=2)
        assert result.files_read == 2
        assert "max-reads" in result.bounds_hit
        assert result.dicom_lower_bound

    def test_symlink_loop_is_walked_once(self, corpus: tuple[list[bytes], set[str]]) -> None:
        share = FakeShare(tree(corpus), links={"notes/again": "notes", "notes/up": ""})
        result = walk(share, max_depth=30)
        plain = walk(FakeShare(tree(corpus)), max_depth=30)
        assert result.files == plain.files
        assert result.symlinks >= 1
        assert not result.bounds_hit

    def test_time_budget(self, corpus: tuple[list[bytes], set[str]]) -> None:
        share = FakeShare(tree(corpus))
        share.delay = 0.05
        started = time.monotonic()
        result = walk(share, budget=0.6)
        assert time.monotonic() - started < 1.0
        assert result.bounds_hit == ["time-budget"]
        assert result.lower_bound

    def test_denied_folder_is_counted_and_skipped(
        self, corpus: tuple[list[bytes], set[str]]
    ) -> None:
        share = FakeShare(tree(corpus))
        share.denied.add(("notes",))
        result = walk(share)
        assert result.walk_errors == 1
        assert result.not_dicom_named_dicom == 0

    def test_broken_session_keeps_partial_counts(
        self, corpus: tuple[list[bytes], set[str]]
    ) -> None:
        share = FakeShare(tree(corpus))
        share.broken_after = 4
        result = walk(share)
        assert result.error is not None
        assert result.error.kind == "reset"
        assert result.lower_bound
        assert result.shares[0].error is not None

    def test_indicators(self) -> None:
        files = {
            "bin/xmrig": b"\x7fELF" + b"\0" * 200,
            "etc/config.json": b'{"pools": [{"url": "stratum+tcp://x.invalid:1"}]}',
            "web/config.json": b'{"theme": "dark"}',
            "CNRYPAT/README_FOR_DECRYPT.txt": b"pay",
            "CNRYPAT/a.locked": b"x",
            "CNRYPAT/b.locked": b"x",
        }
        result = walk(FakeShare(files))
        got = {(h.indicator, h.count) for h in result.indicators}
        assert got == {
            ("xmrig", 1),
            ("miner-config", 1),
            ("ech0raix-note", 1),
            ("locked-extension", 2),
        }
        assert "cnrypat" not in msgspec.json.encode(result).decode().lower()
        assert all(h.source for h in result.indicators)


class TestPieces:
    def test_exposure_classes(self) -> None:
        assert fileshare_exposure_class(anonymous=False, dicom_files=9, phi={}) == "auth-required"
        assert fileshare_exposure_class(anonymous=True, dicom_files=0, phi={}) == (
            "anonymous-access"
        )
        assert fileshare_exposure_class(anonymous=True, dicom_files=1, phi={"X": 0}) == (
            "retrievable"
        )
        assert fileshare_exposure_class(anonymous=True, dicom_files=1, phi={"X": 1}) == (
            "phi-readable"
        )

    def test_options_validate(self) -> None:
        WalkOptions().validate()
        for bad in ({"max_depth": 0}, {"max_entries": 0}, {"max_reads": -1}, {"budget": 0}):
            with pytest.raises(ValueError, match="must"):
                WalkOptions(**bad).validate()  # type: ignore[arg-type]

    def test_indicator_list_is_data_with_sources(self) -> None:
        shipped = shipped_indicators()
        assert len(shipped.indicators) >= 8
        assert all(i.source and i.names for i in shipped.indicators)
        with pytest.raises(ValueError, match="no names"):
            parse_indicators({"indicators": [{"id": "x", "category": "c"}]})

    def test_ftp_listing_facts(self) -> None:
        d = _mlsd_entry(
            "up", {"type": "dir", "perm": "flcdmpe", "unique": "ab", "unix.mode": "0o777"}
        )
        assert d is not None
        assert (d.kind, d.writable, d.identity, d.mode) == (EntryKind.DIR, True, "ab", 0o777)
        ro = _mlsd_entry("ro", {"type": "dir", "perm": "el", "unix.mode": "0755"})
        assert ro is not None
        assert (ro.writable, ro.mode) == (False, 0o755)
        cdir = _mlsd_entry(".", {"type": "cdir", "unique": "ff"})
        assert cdir is not None
        assert cdir.identity == "ff"
        link = _list_entry("l", {"type": "dir", "link_dst": "..", "unix.mode": 0o777})
        assert link.kind is EntryKind.LINK


def test_share_access_values_are_stable() -> None:
    assert [a.value for a in ShareAccess] == ["listed", "denied", "skipped", "error"]
