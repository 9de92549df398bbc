"""``classify``: the one mapping from exceptions to statuses and error kinds."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest

from pacsaudit.errors import (
    ConnectTimeout,
    PeerClosed,
    ReadTimeout,
    TlsFailure,
    classify,
    printable_sample,
)
from pacsaudit.model import ErrorKind, Status
from pacsaudit.probes.dicom.errors import DicomProtocolError, NotDicomError


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Status.CLOSED),
        (OSError(errno.ECONNREFUSED, "refused"), Status.CLOSED),
        (ConnectTimeout("connect timed out"), Status.FILTERED),
        (OSError(errno.ETIMEDOUT, "the kernel gave up connecting"), Status.FILTERED),
    ],
)
def test_no_connection_is_no_error(exc: BaseException, status: Status) -> None:
    classified = classify(exc)
    assert (classified.status, classified.error) == (status, None)


@pytest.mark.parametrize(
    ("exc", "kind", "detail"),
    [
        (ReadTimeout("read timed out"), ErrorKind.READ_TIMEOUT, None),
        (TimeoutError(), ErrorKind.BUDGET_EXCEEDED, None),
        (PeerClosed("closed"), ErrorKind.EOF, None),
        (ConnectionResetError(errno.ECONNRESET, "reset"), ErrorKind.RESET, None),
        (ConnectionResetError(), ErrorKind.RESET, None),
        (BrokenPipeError(errno.EPIPE, "pipe"), ErrorKind.RESET, None),
        (
            DicomProtocolError("oversized-pdu", "too big"),
            ErrorKind.PROTOCOL_VIOLATION,
            "oversized-pdu",
        ),
        (NotDicomError(b"HTTP/1.1"), ErrorKind.PROTOCOL_VIOLATION, "not-dicom"),
        (TlsFailure("handshake-timeout"), ErrorKind.TLS_FAILURE, "handshake-timeout"),
        (ssl.SSLError(1, "wrong version number"), ErrorKind.TLS_FAILURE, None),
        (OSError(errno.EHOSTUNREACH, "no route"), ErrorKind.HOST_UNREACHABLE, None),
        (OSError(errno.ENETUNREACH, "no route"), ErrorKind.NETWORK_UNREACHABLE, None),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            ErrorKind.RESOLUTION_FAILED,
            None,
        ),
        (ConnectionAbortedError(errno.ECONNABORTED, "aborted"), ErrorKind.OS_ERROR, None),
        (OSError("no errno"), ErrorKind.OS_ERROR, None),
        (ValueError("a bug"), ErrorKind.OS_ERROR, None),
    ],
)
def test_errors(exc: BaseException, kind: ErrorKind, detail: str | None) -> None:
    classified = classify(exc)
    assert classified.status is Status.ERROR
    assert classified.error is not None
    assert classified.error.kind is kind
    assert classified.error.detail == detail
    assert classified.error.message


def test_messages_name_errno_not_text() -> None:
    error = classify(OSError(errno.ECONNABORTED, "peer-controlled text")).error
    assert error is not None
    assert error.message == "operating system error ECONNABORTED"
    unexpected = classify(ValueError("peer said: <script>")).error
    assert unexpected is not None
    assert unexpected.message == "unexpected ValueError"


def test_printable_sample() -> None:
    assert printable_sample(b"HTTP/1.1 200 OK\r\n") == "HTTP/1.1 200 OK\\r\\n"
    assert printable_sample(b"\x00\xff\\x") == "\\x00\\xff\\x5cx"  # backslash escaped too
    assert printable_sample(b"A" * 100, 10) == "A" * 10
    assert printable_sample(b"") == ""
    sample = printable_sample(bytes(range(256)), 256)
    assert sample.isprintable()
    assert sample.isascii()
