"""What may be learned from the first bytes of a file on a share: counts only.

A file is DICOM when ``DICM`` sits at offset 128 (PS3.10 §7.1), so 132 bytes decide it. A header
sample reads on until the Pixel Data tag has been seen (or a byte limit is reached) and is
parsed with pydicom, which keeps what it could read of a truncated file; then only the Annex E
attribute counts of :func:`pacsaudit.measure.presence.count_present` leave this module.

DICOMDIR files (PS3.10 §8, PS3.3 F.5) are read for their directory record types only: how many
PATIENT, STUDY, SERIES and instance records they hold. A DICOMDIR cut short by the byte limit
is counted from its raw record-type elements instead (always Explicit VR Little Endian), so a
truncated index still gives minimum counts.

pydicom's warnings and log records can quote element values, so both are silenced while it
parses here.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.dataset import Dataset

from pacsaudit.measure.path_names import path_names_patient
from pacsaudit.measure.presence import count_present
from pacsaudit.probes.fileshare.options import MAGIC, MAGIC_END, PREAMBLE

# (7FE0,0010) Pixel Data, (7FE0,0008) Float and (7FE0,0009) Double Float Pixel Data, in
# little-endian and big-endian byte order.
_PIXEL_TAGS = (
    b"\xe0\x7f\x10\x00",
    b"\xe0\x7f\x08\x00",
    b"\xe0\x7f\x09\x00",
    b"\x7f\xe0\x00\x10",
)

# (0004,1430) Directory Record Type, Explicit VR Little Endian: tag, "CS", 16-bit length.
_RECORD_TYPE_TAG = b"\x04\x00\x30\x14CS"
_INSTANCE_RECORDS = frozenset(
    {
        "IMAGE",
        "RT DOSE",
        "RT STRUCTURE SET",
        "RT PLAN",
        "RT TREAT RECORD",
        "PRESENTATION",
        "WAVEFORM",
        "SR DOCUMENT",
        "KEY OBJECT DOC",
        "SPECTROSCOPY",
        "RAW DATA",
        "REGISTRATION",
        "FIDUCIAL",
        "ENCAP DOC",
        "VALUE MAP",
        "HANGING PROTOCOL",
        "STEREOMETRIC",
        "MEASUREMENT",
        "SURFACE",
        "PLAN",
        "IMPLANT",
        "PRIVATE",
    }
)

_log = logging.getLogger(__name__)


def is_dicom(prefix: bytes) -> bool:
    return len(prefix) >= MAGIC_END and prefix[PREAMBLE:MAGIC_END] == MAGIC


def pixel_data_offset(buffer: bytes | bytearray) -> int | None:
    """Where the first Pixel Data tag starts in ``buffer``, or None: a header read stops there.

    A tag-like byte pattern inside an earlier value ends the read early; the sample is then a
    little shorter, never longer.
    """
    hits = [i for tag in _PIXEL_TAGS if (i := bytes(buffer).find(tag, MAGIC_END)) != -1]
    return min(hits) if hits else None


def reached_pixel_data(buffer: bytes | bytearray) -> bool:
    return pixel_data_offset(buffer) is not None


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """No pydicom warning or log record while parsing peer data: their text can quote values."""
    previous = pydicom_config.settings.reading_validation_mode
    logger = logging.getLogger("pydicom")
    level = logger.level
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pydicom_config.settings.reading_validation_mode = previous
        logger.setLevel(level)


@dataclass(frozen=True, slots=True)
class HeaderSample:
    """Annex E keyword counts of one header; ``parsed`` is False when nothing could be read."""

    counts: Counter[str]
    parsed: bool
    reached_pixels: bool
    named_path: bool = False
    """The file's path on the share holds its patient's name or ID (a word of it)."""


def sample_header(prefix: bytes, path: Sequence[str] = ()) -> HeaderSample:
    """Count the Annex E attributes of a header prefix (pixels never parsed, truncation kept),
    and tell whether ``path`` (the folders and name on the share) names the file's patient.

    The prefix is cut where Pixel Data starts: the bytes a chunked read fetched past that point
    are dropped unparsed.
    """
    offset = pixel_data_offset(prefix)
    reached = offset is not None
    if offset is not None:
        prefix = prefix[:offset]
    try:
        with quiet_pydicom():
            ds = dcmread(BytesIO(prefix), stop_before_pixels=True, force=True)
            counts = count_present(ds)
            parsed = len(ds) > 0
            named = path_names_patient(path, ds)
    except Exception as exc:  # a hostile or truncated header is a count of zero, never fatal
        _log.debug("header sample unparsable (%s)", type(exc).__name__)
        return HeaderSample(Counter(), parsed=False, reached_pixels=reached)
    return HeaderSample(counts, parsed=parsed, reached_pixels=reached, named_path=named)


@dataclass(slots=True)
class RecordCounts:
    patients: int = 0
    studies: int = 0
    series: int = 0
    images: int = 0
    complete: bool = True
    """False when the records were counted from a cut-short file: the counts are minimums."""
    readable: bool = True

    def add(self, record_type: str) -> None:
        kind = record_type.strip(" \x00").upper()
        if kind == "PATIENT":
            self.patients += 1
        elif kind == "STUDY":
            self.studies += 1
        elif kind == "SERIES":
            self.series += 1
        elif kind in _INSTANCE_RECORDS:
            self.images += 1


def count_dicomdir(data: bytes, *, complete: bool) -> RecordCounts:
    """Directory records by type. ``complete`` says whether ``data`` is the whole file."""
    counts = RecordCounts(complete=complete)
    if complete:
        try:
            with quiet_pydicom():
                ds = dcmread(BytesIO(data), force=True)
                records = ds.get("DirectoryRecordSequence")
                if records is not None:
                    for item in records:
                        if isinstance(item, Dataset):
                            counts.add(str(item.get("DirectoryRecordType", "")))
                    return counts
        except Exception as exc:  # fall back to the raw scan below
            _log.debug("DICOMDIR unparsable (%s)", type(exc).__name__)
        counts.complete = False
    raw = _scan_record_types(data)
    if raw is None:
        counts.readable = False
        return counts
    for kind in raw:
        counts.add(kind)
    return counts


def _scan_record_types(data: bytes) -> list[str] | None:
    """Record types from the raw bytes of a (possibly truncated) DICOMDIR, or None when the data
    is not a DICOMDIR at all."""
    if not is_dicom(data):
        return None
    found: list[str] = []
    at = data.find(_RECORD_TYPE_TAG, MAGIC_END)
    while at != -1:
        length_at = at + len(_RECORD_TYPE_TAG)
        if length_at + 2 > len(data):
            break
        length = int.from_bytes(data[length_at : length_at + 2], "little")
        value = data[length_at + 2 : length_at + 2 + length]
        if len(value) == length and length <= 16 and value.isascii():
            found.append(value.decode("ascii"))
        at = data.find(_RECORD_TYPE_TAG, length_at + 2)
    return found
