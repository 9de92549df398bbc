"""Moved to :mod:`pacsaudit.files.read` (shared by inspect and deid); kept for its importers."""

from pacsaudit.files.read import (
    METADATA_DIR,
    Candidate,
    FileError,
    Header,
    Kind,
    ReadFailure,
    classify,
    describe_os_error,
    display_path,
    open_input,
    quiet_pydicom,
    read_dicom,
    read_header,
    sniff,
    walk,
)

__all__ = [
    "METADATA_DIR",
    "Candidate",
    "FileError",
    "Header",
    "Kind",
    "ReadFailure",
    "classify",
    "describe_os_error",
    "display_path",
    "open_input",
    "quiet_pydicom",
    "read_dicom",
    "read_header",
    "sniff",
    "walk",
]
