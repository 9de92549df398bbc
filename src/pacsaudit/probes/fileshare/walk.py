"""One bounded walk for every file-share protocol: FTP, SMB and rsync differ only in how they
list a folder and read the first bytes of a file (:class:`ShareBackend`).

The walk is breadth-first, so that a bound cuts the deepest and latest parts of a tree, and
every loop in it is bounded: ``max_depth`` folders deep, ``max_entries`` listed entries,
``max_reads`` prefix reads, ``max_samples`` parsed headers, and the time budget. Symbolic links
are counted, never followed; a folder whose identity (FTP ``unique`` fact, SMB file id) was
seen before is a loop and is skipped. A count cut short by a bound is recorded as a lower bound
together with the bound's name.

Nothing read leaves this module but counts, Annex E keywords, indicator ids and share names:
no path or file name reaches the result, since paths on imaging shares often name patients.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pacsaudit.errors import ReadTimeout, classify
from pacsaudit.measure.polyglot import executable_preamble
from pacsaudit.model import (
    DicomdirCounts,
    ErrorInfo,
    ErrorKind,
    FileShareResult,
    IndicatorHit,
    ShareAccess,
    ShareSummary,
)
from pacsaudit.peertext import printable_text
from pacsaudit.probes.fileshare.dicomfile import (
    count_dicomdir,
    is_dicom,
    reached_pixel_data,
    sample_header,
)
from pacsaudit.probes.fileshare.indicators import (
    CONTENT_PREFIX,
    EXECUTABLE_DICOM,
    Indicator,
    IndicatorList,
)
from pacsaudit.probes.fileshare.options import MAGIC_END, WalkOptions

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
_UID_NAME = re.compile(r"^[0-9]+(\.[0-9]+){3,}(\.dcm)?$", re.IGNORECASE)
"""Files named by their SOP Instance UID, as many archives store them."""
NAME_MAX = 64
MAX_PLAUSIBLE_SIZE = 1 << 40
"""Listed sizes above 1 TiB are taken for lies and not added up."""
READ_CHUNK = 4096
"""Backends read in chunks this small and ask ``want`` again after each, so that a header read
overshoots the start of Pixel Data by less than one chunk (dropped unparsed)."""
_MARGIN = 0.25
"""Seconds kept back from the budget so that the probe ends before the engine's cut."""


class Bound(enum.StrEnum):
    MAX_DEPTH = "max-depth"
    MAX_ENTRIES = "max-entries"
    MAX_READS = "max-reads"
    MAX_SHARES = "max-shares"
    TIME_BUDGET = "time-budget"


class EntryKind(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    LINK = "link"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed name. Lives only inside the walk; never reaches a result."""

    name: str
    kind: EntryKind
    size: int | None = None
    mode: int | None = None
    """Permission bits when the listing shows them (FTP ``LIST``, ``unix.mode``, rsync)."""
    writable: bool | None = None
    """True when our session may create files in this folder (FTP ``MLSD`` perm facts)."""
    identity: str | None = None
    """A server-side identity of the folder (inode-like): the same one twice is a loop."""


@dataclass(frozen=True, slots=True)
class Listing:
    entries: list[Entry]
    truncated: bool = False
    """The folder held more entries than the limit asked for."""


LOOP = "loop"
"""The :class:`EntryError` code of a folder that is an earlier one again (counted as a link)."""


class EntryError(Exception):
    """One folder or file could not be listed or read (denied, vanished, malformed); the walk
    goes on. Any other exception from a backend means the session is gone."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


Want = Callable[[bytes], int]
"""Given what was read so far, how many bytes the reader wants in total (stop when reached)."""


class ShareBackend(Protocol):
    can_read: bool
    """False where the protocol cannot read part of a file (rsync): detection by name."""

    async def list_dir(self, path: tuple[str, ...], limit: int) -> Listing: ...

    async def read_prefix(self, path: tuple[str, ...], want: Want) -> tuple[bytes, bool]:
        """The file's first bytes as ``want`` asks; True when the file ended before that."""
        ...


def looks_like_dicom_name(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered.endswith(DICOM_SUFFIXES)
        or lowered == "dicomdir"
        or _UID_NAME.match(name) is not None
    )


def clean_name(name: str) -> str:
    """A share or module name fit for output: printable, bounded."""
    return printable_text(name, NAME_MAX)


@dataclass
class _ShareTally:
    name: str
    access: ShareAccess = ShareAccess.LISTED
    writable: bool | None = None
    files: int = 0
    dicom_files: int = 0
    error: ErrorInfo | None = None

    def summary(self) -> ShareSummary:
        return ShareSummary(
            name=clean_name(self.name),
            access=self.access,
            writable=self.writable,
            files=self.files,
            dicom_files=self.dicom_files,
            error=self.error,
        )


@dataclass
class WalkTally:
    """Everything the walks of one target counted; :meth:`fields` feeds the result."""

    options: WalkOptions
    indicators: IndicatorList
    deadline: float
    can_read: bool = True
    directories: int = 0
    entries: int = 0
    files: int = 0
    bytes: int = 0
    symlinks: int = 0
    files_read: int = 0
    bytes_read: int = 0
    unchecked: int = 0
    dicom_files: int = 0
    dicom_bytes: int = 0
    not_dicom_named_dicom: int = 0
    executable_dicom: int = 0
    headers_sampled: int = 0
    headers_truncated: int = 0
    samples_in_named_paths: int = 0
    phi: Counter[str] = field(default_factory=Counter)
    dicomdir: DicomdirCounts | None = None
    writable_dirs: int = 0
    world_writable_dirs: int = 0
    hits: dict[tuple[str, str], IndicatorHit] = field(default_factory=dict)
    bounds: list[Bound] = field(default_factory=list)
    walk_errors: int = 0
    error: ErrorInfo | None = None
    shares: list[_ShareTally] = field(default_factory=list)

    # -- bounds ----------------------------------------------------------------------------

    def hit(self, bound: Bound) -> None:
        if bound not in self.bounds:
            self.bounds.append(bound)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def out_of_time(self) -> bool:
        if self.remaining() <= _MARGIN:
            self.hit(Bound.TIME_BUDGET)
            return True
        return False

    def op_timeout(self) -> float:
        """Seconds one exchange may take: the read timeout, or less near the deadline."""
        return max(0.01, min(self.options.read_timeout, self.remaining() - _MARGIN))

    # -- results ---------------------------------------------------------------------------

    def share(self, name: str) -> _ShareTally:
        tally = _ShareTally(name)
        self.shares.append(tally)
        return tally

    def record_indicator(self, indicator: Indicator, share: str, depth: int) -> None:
        key = (indicator.id, share)
        old = self.hits.get(key)
        if old is None:
            self.hits[key] = IndicatorHit(
                indicator=indicator.id,
                category=indicator.category,
                description=indicator.description,
                source=indicator.source,
                share=clean_name(share) or None,
                depth=depth,
            )
        else:
            self.hits[key] = IndicatorHit(
                indicator=old.indicator,
                category=old.category,
                description=old.description,
                source=old.source,
                share=old.share,
                depth=min(old.depth, depth),
                count=old.count + 1,
            )

    @property
    def lower_bound(self) -> bool:
        return bool(self.bounds) or self.error is not None

    def result(
        self,
        *,
        server: str | None,
        login: str | None,
        anonymous: bool,
    ) -> FileShareResult:
        """The finding's result: the walk's counts plus what the session showed (facts only:
        the classify stage, :mod:`pacsaudit.measure.classify`, judges them)."""
        return FileShareResult(
            server=server,
            login=login,
            anonymous=anonymous,
            shares=[s.summary() for s in self.shares],
            directories=self.directories,
            files=self.files,
            bytes=self.bytes,
            symlinks=self.symlinks,
            files_read=self.files_read,
            bytes_read=self.bytes_read,
            dicom_detection=("magic" if self.can_read else "name-and-size") if anonymous else None,
            dicom_files=self.dicom_files,
            dicom_bytes=self.dicom_bytes,
            dicom_lower_bound=self.lower_bound or self.unchecked > 0,
            not_dicom_named_dicom=self.not_dicom_named_dicom,
            executable_dicom=self.executable_dicom,
            headers_sampled=self.headers_sampled,
            headers_truncated=self.headers_truncated,
            samples_in_named_paths=self.samples_in_named_paths,
            phi_attributes=dict(sorted(self.phi.items())),
            dicomdir=self.dicomdir,
            writable_dirs=self.writable_dirs,
            world_writable_dirs=self.world_writable_dirs,
            indicators=sorted(self.hits.values(), key=lambda h: (h.share or "", h.indicator)),
            lower_bound=self.lower_bound,
            bounds_hit=[str(b) for b in self.bounds],
            walk_errors=self.walk_errors,
            error=self.error,
        )


def _unix_world_writable(mode: int | None) -> bool:
    return mode is not None and bool(mode & 0o002)


async def walk_share(backend: ShareBackend, share: _ShareTally, tally: WalkTally) -> None:
    """Walk one share or module breadth-first within the tally's bounds.

    Returns normally when the tree or a bound ends the walk; a broken session is recorded in
    ``share.error`` (and ``tally.error``) and ends it too. Cancellation is not caught.
    """
    options = tally.options
    queue: deque[tuple[tuple[str, ...], int]] = deque([((), 0)])
    seen: set[str] = set()
    try:
        while queue:
            if tally.out_of_time():
                return
            if tally.entries >= options.max_entries:
                tally.hit(Bound.MAX_ENTRIES)
                return
            path, depth = queue.popleft()
            try:
                async with asyncio.timeout(tally.op_timeout()):
                    listing = await backend.list_dir(path, options.max_entries - tally.entries)
            except EntryError as exc:
                if exc.code == LOOP:  # a backend that tells a loop only once it listed it
                    tally.symlinks += 1
                    continue
                tally.walk_errors += 1
                if not path:
                    share.access = ShareAccess.DENIED
                    return
                continue
            tally.directories += 1
            if listing.truncated:
                tally.hit(Bound.MAX_ENTRIES)
            files: list[tuple[tuple[str, ...], Entry]] = []
            for entry in listing.entries:
                if entry.name == "." and entry.identity is not None:
                    seen.add(entry.identity)  # a link back to this folder is a loop
                if entry.name in ("", ".", ".."):
                    continue
                tally.entries += 1
                if any(ch in entry.name for ch in "/\\\0"):
                    tally.walk_errors += 1  # a listing that lies: no such name can exist
                    continue
                if entry.size is not None and not 0 <= entry.size <= MAX_PLAUSIBLE_SIZE:
                    tally.walk_errors += 1  # a size no file has: not counted
                    entry = dataclasses.replace(entry, size=None)
                if entry.kind is EntryKind.LINK:
                    tally.symlinks += 1
                elif entry.kind is EntryKind.DIR:
                    if _unix_world_writable(entry.mode):
                        tally.world_writable_dirs += 1
                    if entry.writable:
                        tally.writable_dirs += 1
                    if entry.identity is not None:
                        if entry.identity in seen:
                            tally.symlinks += 1
                            continue
                        seen.add(entry.identity)
                    if depth + 1 > options.max_depth:
                        tally.hit(Bound.MAX_DEPTH)
                        continue
                    queue.append(((*path, entry.name), depth + 1))
                elif entry.kind is EntryKind.FILE:
                    tally.files += 1
                    share.files += 1
                    tally.bytes += entry.size or 0
                    files.append(((*path, entry.name), entry))
            for file_path, entry in files:
                if tally.out_of_time():
                    return
                await _look_at_file(backend, share, tally, file_path, entry, depth + 1)
    except TimeoutError:
        if tally.remaining() <= _MARGIN:
            tally.hit(Bound.TIME_BUDGET)
        else:  # the backend's library timed a read out: a silent peer, not our budget
            share.error = tally.error = _broken(ReadTimeout())
    except Exception as exc:  # a broken session ends this walk, never the scan
        share.error = tally.error = _broken(exc)


def _broken(exc: BaseException) -> ErrorInfo:
    """Why a session broke mid-walk; a refused or filtered reconnect, which ``classify`` calls
    no error (no service), still broke this one."""
    classified = classify(exc).error
    return classified or ErrorInfo(ErrorKind.OS_ERROR, f"unexpected {type(exc).__name__}")


async def _look_at_file(
    backend: ShareBackend,
    share: _ShareTally,
    tally: WalkTally,
    path: tuple[str, ...],
    entry: Entry,
    depth: int,
) -> None:
    options = tally.options
    name = path[-1]
    content_checks: list[Indicator] = []
    for indicator in tally.indicators.by_name(name):
        if indicator.content:
            content_checks.append(indicator)
        else:
            tally.record_indicator(indicator, share.name, depth)
    named_dicom = looks_like_dicom_name(name)
    size = entry.size
    if not backend.can_read:
        # rsync: named like DICOM and large enough to hold a preamble and a header.
        if named_dicom and (size is None or size > MAGIC_END):
            tally.dicom_files += 1
            share.dicom_files += 1
            tally.dicom_bytes += size or 0
        return
    if size is not None and size < MAGIC_END and not content_checks:
        if named_dicom:
            tally.not_dicom_named_dicom += 1
        return
    if tally.files_read >= options.max_reads:
        tally.hit(Bound.MAX_READS)
        tally.unchecked += 1
        return
    is_dicomdir = name.upper() == "DICOMDIR"
    read_dicomdir = is_dicomdir and (
        tally.dicomdir is None or tally.dicomdir.files < options.max_dicomdirs
    )
    sample = not is_dicomdir and tally.headers_sampled < options.max_samples

    def want(buffer: bytes) -> int:
        first = CONTENT_PREFIX if content_checks else MAGIC_END
        if len(buffer) < first:
            return first
        if not is_dicom(buffer):
            return len(buffer)
        if read_dicomdir:
            return options.max_dicomdir_bytes
        if sample and not reached_pixel_data(buffer):
            return options.max_header_bytes
        return len(buffer)

    try:
        async with asyncio.timeout(tally.op_timeout()):
            prefix, ended = await backend.read_prefix(path, want)
    except EntryError:
        tally.walk_errors += 1
        return
    tally.files_read += 1
    tally.bytes_read += len(prefix)
    for indicator in content_checks:
        if indicator.matches_content(prefix):
            tally.record_indicator(indicator, share.name, depth)
    if not is_dicom(prefix):
        if named_dicom:
            tally.not_dicom_named_dicom += 1
        return
    tally.dicom_files += 1
    share.dicom_files += 1
    tally.dicom_bytes += size if size is not None else len(prefix)
    _check_preamble(tally, share, prefix, depth)
    if read_dicomdir:
        complete = ended or (size is not None and len(prefix) >= size)
        _add_dicomdir(tally, prefix, complete=complete)
    elif sample:
        result = sample_header(prefix, path)
        tally.headers_sampled += 1
        tally.samples_in_named_paths += result.named_path
        tally.phi.update(result.counts)
        if not result.reached_pixels and not ended:
            tally.headers_truncated += 1


def _check_preamble(tally: WalkTally, share: _ShareTally, prefix: bytes, depth: int) -> None:
    """CVE-2019-11687: a DICOM file whose preamble is a program posing as an image."""
    if executable_preamble(prefix) is not None:
        tally.executable_dicom += 1
        tally.record_indicator(EXECUTABLE_DICOM, share.name, depth)


def _add_dicomdir(tally: WalkTally, data: bytes, *, complete: bool) -> None:
    counts = count_dicomdir(data, complete=complete)
    old = tally.dicomdir or DicomdirCounts()
    tally.dicomdir = DicomdirCounts(
        files=old.files + 1,
        patients=old.patients + counts.patients,
        studies=old.studies + counts.studies,
        series=old.series + counts.series,
        images=old.images + counts.images,
        lower_bound=old.lower_bound or not counts.complete,
        unreadable=old.unreadable + (0 if counts.readable else 1),
    )
