"""The one place where exceptions become statuses and error kinds.

Probes catch exceptions at exactly one level and call :func:`classify`; nothing else in the
code base maps errors, so "refused", "reset", "timeout" and "EOF" stay distinct everywhere.
Messages built here never include peer-supplied text: they are safe to log at any level.

The libraries a probe drives raise their own exceptions, whose meaning depends on the library:
a bare :class:`TimeoutError` out of our own ``asyncio.timeout`` is a spent budget, the same
exception out of aioftp or impacket is a silent peer. Each such library has a small *adapter*
beside the code that calls it (``aioftp_error`` in ``probes/fileshare/ftp.py``,
``impacket_error`` in ``smb.py``, ``httpx_error`` in ``probes/http/transport.py``, and
:func:`tls_failure` here for asyncio's TLS handshake): it only re-says the library's exception
in this module's words (:class:`ReadTimeout`, :class:`PeerClosed`, :class:`ProtocolError` ...)
and never decides a status itself. So a bare ``TimeoutError`` reaching :func:`classify` means
one thing: the budget.
"""

from __future__ import annotations

import errno
import socket
import ssl

import msgspec

from pacsaudit.model import ErrorInfo, ErrorKind, Status
from pacsaudit.peertext import printable_bytes
from pacsaudit.usage import PacsauditError as PacsauditError
from pacsaudit.usage import UsageError as UsageError


class ProtocolError(PacsauditError):
    """A peer broke its protocol or one of our limits; ``code`` is a short stable name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TlsFailure(PacsauditError):
    """The TLS handshake failed; ``reason`` is a short word from OpenSSL or the transport."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"TLS handshake failed: {reason}")
        self.reason = reason


class BudgetSpent(TimeoutError):
    """The probe's own deadline for this target passed (see ``DicomOptions.budget``)."""


class ConnectTimeout(TimeoutError):
    """The TCP handshake did not complete in time: the port is filtered (or the host down)."""


class ReadTimeout(TimeoutError):
    """Connected, but the peer did not send what we waited for in time.

    ``message`` is what the finding's error says; ``detail`` names which wait where that helps
    (``request-timeout``: a whole HTTP exchange).
    """

    def __init__(
        self,
        *args: object,
        message: str = "no answer from the peer in time",
        detail: str | None = None,
    ) -> None:
        super().__init__(*args)
        self.message = message
        self.detail = detail


class PeerClosed(ConnectionError):
    """The peer closed the connection (EOF) while we waited for data."""


class Classified(msgspec.Struct, frozen=True):
    status: Status
    error: ErrorInfo | None


_ERRNO_KINDS = {
    errno.ECONNRESET: ErrorKind.RESET,
    errno.EPIPE: ErrorKind.RESET,
    errno.EHOSTUNREACH: ErrorKind.HOST_UNREACHABLE,
    errno.EHOSTDOWN: ErrorKind.HOST_UNREACHABLE,
    errno.ENETUNREACH: ErrorKind.NETWORK_UNREACHABLE,
    errno.ENETDOWN: ErrorKind.NETWORK_UNREACHABLE,
}


def classify(exc: BaseException) -> Classified:
    """Map an exception raised while probing one target to its status and error."""
    if isinstance(exc, ConnectionRefusedError):
        return Classified(Status.CLOSED, None)
    if isinstance(exc, ConnectTimeout):
        return Classified(Status.FILTERED, None)
    if isinstance(exc, ReadTimeout):
        return _error(ErrorKind.READ_TIMEOUT, exc.message, exc.detail)
    if isinstance(exc, TimeoutError) and exc.errno == errno.ETIMEDOUT:
        # The kernel gave up on the TCP handshake. OSError(ETIMEDOUT, ...) is constructed as a
        # TimeoutError, so this must come before the budget below.
        return Classified(Status.FILTERED, None)
    if isinstance(exc, TimeoutError):
        return _error(ErrorKind.BUDGET_EXCEEDED, "the probe ran past its time budget")
    if isinstance(exc, PeerClosed):
        return _error(ErrorKind.EOF, "the peer closed the connection without answering")
    if isinstance(exc, ProtocolError):
        if exc.code == "peer-aborted":  # a legal A-ABORT: the peer ended it, nothing broken
            return _error(ErrorKind.PEER_ABORTED, exc.message, exc.code)
        return _error(ErrorKind.PROTOCOL_VIOLATION, exc.message, exc.code)
    if isinstance(exc, TlsFailure):
        return _error(ErrorKind.TLS_FAILURE, str(exc), exc.reason)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        reason = getattr(exc, "reason", None) or type(exc).__name__
        return _error(ErrorKind.TLS_FAILURE, f"TLS handshake failed: {reason}")
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return _error(ErrorKind.RESET, "the peer reset the connection")
    if isinstance(exc, socket.gaierror):
        # Its errno is an EAI_* code (negative on Linux), not an errno: name it as such.
        return _error(ErrorKind.RESOLUTION_FAILED, f"name resolution failed ({exc.errno})")
    if isinstance(exc, OSError):
        code = exc.errno
        if code == errno.ECONNREFUSED:
            return Classified(Status.CLOSED, None)
        name = errno.errorcode.get(code, str(code)) if code is not None else type(exc).__name__
        kind = (
            _ERRNO_KINDS.get(code, ErrorKind.OS_ERROR) if code is not None else ErrorKind.OS_ERROR
        )
        return _error(kind, f"operating system error {name}")
    return _error(ErrorKind.OS_ERROR, f"unexpected {type(exc).__name__}")


def tls_failure(exc: BaseException) -> TlsFailure:
    """asyncio's TLS handshake adapter: what ``create_connection(ssl=...)`` raised, as a
    :class:`TlsFailure` with a short reason word."""
    return TlsFailure(_tls_reason(exc))


def _tls_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc.__class__.__name__).lower().replace("_", "-")
    if isinstance(exc, TimeoutError) or "longer than" in str(exc):
        return "handshake-timeout"
    if isinstance(exc, ConnectionResetError) and exc.errno == errno.ECONNRESET:
        return "reset-during-handshake"
    # asyncio and uvloop report a plain EOF during the handshake as a bare ConnectionResetError
    # (no errno); only a real RST carries ECONNRESET.
    if isinstance(exc, ConnectionError | EOFError):
        return "closed-during-handshake"
    return exc.__class__.__name__


def _error(kind: ErrorKind, message: str, detail: str | None = None) -> Classified:
    return Classified(Status.ERROR, ErrorInfo(kind=kind, message=message, detail=detail))


def printable_sample(data: bytes, limit: int = 64) -> str:
    """A short, printable rendering of a peer's first bytes (for ``open-not-dicom``).

    Non-printable bytes become ``\\xNN`` escapes (:func:`pacsaudit.peertext.printable_bytes`),
    so a banner can neither break a terminal nor a JSON consumer; the length is bounded whatever
    the peer sent.
    """
    return printable_bytes(data, limit)
