"""Finding DICOM files by content, walking trees and reading files safely (inspect, deid).

File names say nothing (NAS exports name files ``IM0001``, ``.dcm`` files may be anything), so
a file is DICOM when its bytes say so: a 128-byte preamble and ``DICM`` (PS3.10 7.1), or a bare
dataset that starts with a plausible group 0002/0008 element, as older archives write them.

pydicom reads a truncated file without complaint, so :func:`read_dicom` checks that the last
element it parsed ends where the file (or the header, before Pixel Data) ends. Every failure is
mapped to a :class:`FileError` in :func:`classify` and nowhere else; messages name the exception
type, never its text, because pydicom's messages can quote element values.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian

METADATA_DIR = ".pacsaudit"
"""Our own folder inside an output tree (logs, review list); never walked as input."""

_HEAD = 132
_PIXEL_TAGS = (b"\xe0\x7f\x10\x00", b"\xe0\x7f\x08\x00", b"\xe0\x7f\x09\x00")
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
    b"UR US UT UV".split()
)


class Kind(enum.Enum):
    PART10 = "part10"
    HEADERLESS = "headerless"
    NOT_DICOM = "not-dicom"


class FileError(enum.StrEnum):
    """Why a file was skipped; a closed vocabulary, one meaning each."""

    NOT_DICOM = "not-dicom"
    """The content is not DICOM, whatever the file is called."""
    TRUNCATED = "truncated"
    """The data ends inside an element: a partial copy or download."""
    MALFORMED = "malformed"
    """DICOM, but pydicom could not parse or re-encode it."""
    WRONG_TRANSFER_SYNTAX = "wrong-transfer-syntax"
    """The data set is not encoded as its Transfer Syntax UID declares; DCMTK cannot read it
    either. ``dcmconv`` with the right syntax repairs it."""
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported-transfer-syntax"
    """The transfer syntax is unknown or cannot be read or written here."""
    UNREADABLE = "unreadable"
    """Permission denied."""
    NOT_REGULAR = "not-regular"
    """A FIFO, socket or device: never opened, since reading one can block forever."""
    DICOMDIR = "dicomdir"
    """A media directory: its record offsets would not survive re-encoding; rebuild it from
    the de-identified files instead (``dcmmkdir``, pydicom's ``FileSet``)."""
    NO_SPACE = "no-space"
    """The output file system is full (or over quota)."""
    OS_ERROR = "os-error"
    """Any other operating-system error; the message carries its errno name."""
    SYMLINK = "symlink"
    """A symbolic link (to a file or a folder) under a root: never followed, so a link to
    data elsewhere on the machine cannot be pulled into the output. Roots given by name are
    followed: the user chose them."""
    UNLISTABLE = "unlistable"
    """A folder whose entries could not be read (permission denied, an I/O error): the files
    in it were not seen, so the run reports the folder rather than pretending it was empty."""


class ReadFailure(Exception):
    """Carries the classified reason; its text is safe to print."""

    def __init__(self, kind: FileError, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def __reduce__(self) -> tuple[type[ReadFailure], tuple[FileError, str]]:
        return (ReadFailure, (self.kind, self.message))


_NOT_FOLLOWED = ReadFailure(FileError.SYMLINK, "symbolic link not followed")


def classify(exc: BaseException) -> ReadFailure:
    """The one place where exceptions from reading or writing a file become a FileError."""
    if isinstance(exc, ReadFailure):
        return exc
    cause: BaseException = exc
    for _ in range(8):  # pydicom re-raises with the tag in the message and the original as cause
        if cause.__cause__ is None:
            break
        cause = cause.__cause__
    if isinstance(cause, OSError) and cause.errno:
        exc = cause
    if isinstance(exc, PermissionError):
        return ReadFailure(FileError.UNREADABLE, "permission denied")
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
        return _NOT_FOLLOWED
    if isinstance(exc, OSError):
        code = exc.errno or 0
        name = errno.errorcode.get(code, "unknown")
        if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return ReadFailure(FileError.NO_SPACE, name)
        return ReadFailure(FileError.OS_ERROR, name)
    if isinstance(exc, InvalidDicomError):
        return ReadFailure(FileError.NOT_DICOM, "no DICOM header")
    if isinstance(exc, EOFError | struct.error):
        return ReadFailure(FileError.TRUNCATED, type(exc).__name__)
    if isinstance(exc, NotImplementedError):
        return ReadFailure(FileError.UNSUPPORTED_TRANSFER_SYNTAX, type(exc).__name__)
    return ReadFailure(FileError.MALFORMED, type(exc).__name__)


def sniff(head: bytes) -> Kind:
    """Decide from the first 132 bytes whether a file holds DICOM."""
    if len(head) >= _HEAD and head[128:132] == b"DICM":
        return Kind.PART10
    if len(head) < 8:
        return Kind.NOT_DICOM
    explicit = head[4:6] in _VRS
    for order in "<>":  # little endian, or explicit VR big endian (retired, still found)
        group, element = struct.unpack(f"{order}HH", head[:4])
        if group not in (0x0002, 0x0008) or element > 0x00FF:
            continue
        if explicit:
            return Kind.HEADERLESS
        if order == "<" and struct.unpack("<I", head[4:8])[0] < 0x10000:
            return Kind.HEADERLESS  # implicit VR little endian
    return Kind.NOT_DICOM


@dataclass(frozen=True, slots=True)
class Candidate:
    """A path found under one of the roots; ``relative`` is how it appears in reports."""

    path: Path
    root: Path
    relative: Path
    size: int
    regular: bool
    mtime_ns: int = 0
    """When the file last changed: a resumed deid redoes a file whose input changed."""
    problem: ReadFailure | None = None
    """Set when the walk itself failed here (a folder it could not list): nothing to read."""

    @property
    def display(self) -> str:
        """``relative`` as records and journals write it: a name that is not UTF-8 (Latin-1
        from an old NAS) keeps its bytes as ``\\udcfc`` escapes instead of failing to encode;
        the file itself is still read and written under its real name."""
        return display_path(self.relative)


_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (C0, DEL, C1) and the invisible and bidirectional format characters:
in a file name they can move the cursor, rewrite the terminal or reorder the text around them."""


def display_path(path: Path) -> str:
    """A path as data: bytes that are not UTF-8 as ``\\udcXX`` escapes, control and bidi
    characters as ``\\xNN`` / ``\\uNNNN`` escapes (a file may be named ``ESC[2J``), so every
    record, log and terminal line shows the name and none of them obeys it."""
    text = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    return _INVISIBLE.sub(_visible, text)


def _visible(m: re.Match[str]) -> str:
    code = ord(m[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def describe_os_error(exc: OSError) -> str:
    """The operating system's own words ("Permission denied"), never a traceback's."""
    return exc.strerror or type(exc).__name__


def walk(roots: Iterable[Path]) -> Iterator[Candidate]:
    """Every file under ``roots`` in a stable order, without following directory symlinks
    (a NAS with a link loop must not make the walk endless) and skipping our metadata folder.

    A folder that cannot be listed becomes a candidate carrying its problem: silently
    skipping it would report a share as smaller (and cleaner) than it is.
    """
    for root in roots:
        if not root.is_dir():  # a file named by the user: followed if it is a link
            try:
                target = root.resolve(strict=True)
            except (OSError, RuntimeError):
                target = root  # open() will report why
            yield _candidate(target, root.parent, Path(root.name))
            continue
        failed: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(root, onerror=failed.append):
            yield from _unlistable(failed, root)
            here = Path(dirpath)
            linked = {d for d in dirnames if os.path.islink(here / d)}
            dirnames[:] = sorted(d for d in dirnames if d != METADATA_DIR and d not in linked)
            for name in sorted(set(filenames) | linked):
                path = here / name
                yield _candidate(path, root, path.relative_to(root))
        yield from _unlistable(failed, root)


def _unlistable(failed: list[OSError], root: Path) -> Iterator[Candidate]:
    """Turn the errors os.walk reported since the last call into problem candidates."""
    while failed:
        exc = failed.pop(0)
        folder = Path(exc.filename) if exc.filename else root
        try:
            relative = folder.relative_to(root)
        except ValueError:
            relative = Path(folder.name)
        reason = "permission denied" if isinstance(exc, PermissionError) else _errno_name(exc)
        problem = ReadFailure(FileError.UNLISTABLE, f"folder could not be listed: {reason}")
        yield Candidate(folder, root, relative, 0, False, problem=problem)


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "unknown")


def _candidate(path: Path, root: Path, relative: Path) -> Candidate:
    try:
        info = path.lstat()
    except OSError:
        return Candidate(path, root, relative, 0, True)  # open() will report why
    if stat.S_ISLNK(info.st_mode):
        return Candidate(path, root, relative, 0, False, problem=_NOT_FOLLOWED)
    return Candidate(
        path, root, relative, info.st_size, stat.S_ISREG(info.st_mode), info.st_mtime_ns
    )


def _check_complete(ds: Dataset, fp: BinaryIO, size: int, stopped: bool) -> None:
    if not len(ds):
        raise ReadFailure(FileError.TRUNCATED, "no data set after the header")
    meta = getattr(ds, "file_meta", None)
    if getattr(meta, "TransferSyntaxUID", None) == DeflatedExplicitVRLittleEndian:
        return  # offsets are in the inflated stream; zlib itself reports a cut stream
    last = ds.get_item(max(ds.keys()))
    if not isinstance(last, RawDataElement) or last.length == 0xFFFFFFFF:
        return  # an undefined length ends in a delimiter; a missing one raised EOFError
    end = last.value_tell + last.length
    if end > size:
        raise ReadFailure(FileError.TRUNCATED, "last element cut short")
    if end < size and not (stopped and fp.tell() == end):
        raise ReadFailure(FileError.TRUNCATED, "incomplete element at end of data")


def read_dicom(path: Path, *, header_only: bool) -> tuple[Dataset, Kind, int]:
    """Read one file after checking by content that it is DICOM; raises ReadFailure.

    Returns the dataset, how it was stored and the file size.
    """
    found = _read(path, header_only=header_only)
    return found.dataset, found.kind, found.size


@dataclass(frozen=True, slots=True)
class Header:
    """A file's data set up to Pixel Data, and where Pixel Data starts."""

    dataset: Dataset
    kind: Kind
    size: int
    pixel_offset: int
    """Where the header stopped: the first Pixel Data element, or the file's size."""


def read_header(path: Path, fd: int | None = None) -> Header:
    """Read the data set up to Pixel Data (checked like :func:`read_dicom`); raises
    ReadFailure. The transfer syntax is checked too, since the header will be written.

    ``fd``: the file already opened by :func:`open_input` (the caller goes on to copy its
    pixel data from the same descriptor); it stays open."""
    found = _read(path, header_only=True, fd=fd)
    _check_transfer_syntax(found.dataset)
    return found


def open_input(path: Path) -> int:
    """Open an input read-only, never through a symbolic link (a file replaced by a link since
    the walk is still not followed) and never blocking (a FIFO put in its place); raises
    ReadFailure, NOT_REGULAR for anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise classify(exc) from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError as exc:
        os.close(fd)
        raise classify(exc) from None
    if not regular:
        os.close(fd)
        raise ReadFailure(FileError.NOT_REGULAR, "not a regular file")
    return fd


def _read(path: Path, *, header_only: bool, fd: int | None = None) -> Header:
    own = fd is None
    try:
        if fd is None:
            fd = open_input(path)
        info = os.fstat(fd)
        with open(fd, "rb", closefd=own) as fp:
            kind = sniff(fp.read(_HEAD))
            if kind is Kind.NOT_DICOM:
                raise ReadFailure(FileError.NOT_DICOM, "content is not DICOM")
            fp.seek(0)
            previous = pydicom_config.settings.reading_validation_mode
            pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
            try:
                ds = dcmread(fp, stop_before_pixels=header_only, force=kind is Kind.HEADERLESS)
            except InvalidDicomError:
                if kind is Kind.PART10:
                    _diagnose_part10(fp)
                raise
            finally:
                pydicom_config.settings.reading_validation_mode = previous
            _check_complete(ds, fp, info.st_size, header_only)
            if not header_only:
                _check_transfer_syntax(ds)
            return Header(ds, kind, info.st_size, fp.tell())
    except Exception as exc:  # every failure is classified, none escapes
        raise classify(exc) from None


def _diagnose_part10(fp: BinaryIO) -> None:
    """Why a file with a Part 10 header failed the strict read: most often its data set is not
    encoded as its Transfer Syntax UID says (explicit declared, implicit written, or the
    reverse). A lenient read tells: it guesses the encoding from the data."""
    fp.seek(0)
    pydicom_config.settings.reading_validation_mode = pydicom_config.WARN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = dcmread(fp, stop_before_pixels=True)
        except Exception:  # not even leniently: malformed
            raise ReadFailure(FileError.MALFORMED, "unparsable data set") from None
    uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        declared = (uid.is_implicit_VR, uid.is_little_endian) if uid is not None else None
    except (AttributeError, ValueError):
        declared = None
    # original_encoding repeats the declaration; each raw element knows how it was read
    found = None
    for elem in map(ds.get_item, sorted(ds.keys())[:8]):
        if isinstance(elem, RawDataElement):
            found = (elem.is_implicit_VR, elem.is_little_endian)
            break
    if declared is not None and found is not None and declared != found:
        raise ReadFailure(
            FileError.WRONG_TRANSFER_SYNTAX, "the data set is not encoded as declared"
        )
    raise ReadFailure(FileError.MALFORMED, "data set rejected by a strict read")


def _check_transfer_syntax(ds: Dataset) -> None:
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    try:
        known = uid is None or uid.is_transfer_syntax
    except ValueError:
        known = False
    if not known:
        raise ReadFailure(FileError.UNSUPPORTED_TRANSFER_SYNTAX, "unknown transfer syntax UID")


def quiet_pydicom() -> None:
    """Silence pydicom's warnings and log in this process: their text can quote values."""
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
    warnings.filterwarnings("ignore", category=UserWarning)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
