"""What the DICOM probe is told: its options and defaults, without the probe's machinery.

Kept apart from :mod:`~pacsaudit.probes.dicom.probe` so that the command line can build and
validate them without importing what only a scan of some depth needs (pydicom for C-FIND
identifiers, cryptography for certificates).
"""

from __future__ import annotations

import enum

import msgspec

from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.net.stream import DialOptions
from pacsaudit.probes.dicom import pdu
from pacsaudit.probes.dicom.ae_guess import AeGuessOptions

DEFAULT_CALLING_AE = "PACSAUDIT"
DEFAULT_CALLED_AE = "ANY-SCP"
DICOM_PORTS = (104, 11112, 4242, 2761, 2762)
DICOM_TLS_PORTS = (2762,)


class Depth(enum.StrEnum):
    DISCOVER = "discover"
    """Association, AE-title policy, C-ECHO, TLS, storage acceptance: no query at all."""
    EXPOSURE = "exposure"
    """Also count what C-FIND (Q/R, Modality Worklist) exposes and test C-MOVE, without
    retrieving anything."""


class ExposureOptions(msgspec.Struct, frozen=True):
    max_records: int = 10_000
    """Per query level (patients, studies, series, images)."""
    reserve: float = 2.0
    """Seconds of the session kept free for C-CANCEL and release."""
    check_move: bool = True


class DicomOptions(msgspec.Struct, frozen=True):
    calling_ae: str = DEFAULT_CALLING_AE
    default_called_ae: str = DEFAULT_CALLED_AE
    tls_ports: frozenset[int] = frozenset(DICOM_TLS_PORTS)
    always_tls: bool = False
    """Speak TLS on every port (for a port identified as TLS by the dispatcher)."""
    read_timeout: float = 5.0
    max_pdu_receive: int = 1 << 20
    dial: DialOptions = msgspec.field(default_factory=DialOptions)
    depth: Depth = Depth.DISCOVER
    exposure: ExposureOptions = msgspec.field(default_factory=ExposureOptions)
    hasher: KeyedHasher | None = None
    """Required for ``Depth.EXPOSURE``: keys the Patient ID hashes."""
    budget: float = 30.0
    """Seconds for the whole probe of one ip:port; queries stop in time to release cleanly."""
    guess: AeGuessOptions = msgspec.field(default_factory=AeGuessOptions)
    associate_wait: float = 8.0
    """Seconds the answer to an A-ASSOCIATE-RQ may take, at least ``read_timeout`` and within
    ``budget``: a reject that comes late is evidence (dicompot delays ~5 s), not a timeout. A
    peer that never answers holds the probe this long instead of the read timeout."""
    check_storage: bool = True
    """Once let in, ask which Storage SOP classes (and workflow services) the peer accepts, in
    associations of their own that are released unused (see ``acceptance``)."""

    def validate(self) -> None:
        pdu.encode_ae_title(self.calling_ae)
        pdu.encode_ae_title(self.default_called_ae)
        if self.read_timeout <= 0:
            raise ValueError("read timeout must be positive")
        if self.depth is Depth.EXPOSURE and self.hasher is None:
            raise ValueError("exposure depth needs a keyed hasher for Patient IDs")
        if self.exposure.max_records < 1:
            raise ValueError("max records must be at least 1")
