"""What the HTTP probe is told: its ports, options and bounds, without httpx.

Kept apart from :mod:`~pacsaudit.probes.http.probe` so that the command line builds and
validates them without importing httpx, which a scan of DICOM ports never needs.
"""

from __future__ import annotations

import msgspec

from pacsaudit.measure.keyed_hash import KeyedHasher
from pacsaudit.net.stream import DialOptions
from pacsaudit.probes.fileshare.options import WalkOptions

HTTP_PORTS = (80, 443, 8042, 8080, 8443)
HTTPS_PORTS = (443, 8443)


class Limits(msgspec.Struct, frozen=True):
    request_timeout: float = 10.0
    """Seconds for one whole exchange: connect, headers, body (slowloris peers)."""
    max_redirects: int = 3
    page_bytes: int = 256 * 1024
    """Body cap for HTML pages and small JSON (``/system``, ``/statistics``)."""
    json_bytes: int = 8 * 1024 * 1024
    """Body cap for one QIDO-RS page or REST listing."""


class HttpOptions(msgspec.Struct, frozen=True):
    https_ports: frozenset[int] = frozenset(HTTPS_PORTS)
    always_tls: bool = False
    """Speak TLS on every port (the ``https`` variant the dispatcher runs after a TLS alert)."""
    read_timeout: float = 5.0
    dial: DialOptions = msgspec.field(default_factory=DialOptions)
    enumerate: bool = True
    """Exposure depth: page through QIDO-RS / Orthanc's listing and count. False: only find
    out what answers (one record at most is read, and not counted)."""
    hasher: KeyedHasher | None = None
    """Keys the Patient ID hashes; without one, distinct patients are counted in memory only
    and no hash is written."""
    budget: float = 24.0
    """Seconds for the whole probe of one ip:port: inside the engine's default 30 s cut, with
    room for the DICOM sniff that precedes it on an unclaimed port (the CLI uses 80 % of
    ``--host-timeout``)."""
    max_records: int = 10_000
    page_size: int = 100
    limits: Limits = msgspec.field(default_factory=Limits)
    max_requests: int = 64
    try_default_credentials: bool = False
    max_credentials: int = 4
    credential_interval: float = 0.2
    """Seconds between two credential attempts on one target (account lockouts, log floods)."""
    contact: str | None = None
    """The scanning party's contact (``--contact``), added to the User-Agent."""
    walk: WalkOptions = msgspec.field(default_factory=WalkOptions)
    """Bounds of the share walk of an open directory listing or WebDAV folder: the file-share
    probes' own (``--max-depth``, ``--max-entries``, ``--max-reads``, ``--max-samples``)."""

    def validate(self) -> None:
        self.walk.validate()
        if self.read_timeout <= 0:
            raise ValueError("read timeout must be positive")
        if self.budget <= 0:
            raise ValueError("the HTTP probe's budget must be positive")
        if self.max_records < 1:
            raise ValueError("max records must be at least 1")
        if not 1 <= self.page_size <= 10_000:
            raise ValueError("QIDO page size must be between 1 and 10000")
        if self.max_credentials < 0:
            raise ValueError("max credentials must not be negative")
        if self.limits.max_redirects < 0:
            raise ValueError("max redirects must not be negative")
        if self.contact is not None and not (
            self.contact.isascii() and self.contact.isprintable() and 0 < len(self.contact) <= 200
        ):
            raise ValueError("the contact must be printable ASCII, 1 to 200 characters")
