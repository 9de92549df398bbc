"""The libraries' adapters: each re-says a library's exception in ``pacsaudit.errors``' words,
and ``classify`` alone decides the status — so one exception means one thing everywhere."""

from __future__ import annotations

import ast
import errno
import socket
import ssl
from pathlib import Path

import aioftp
import httpcore
import httpx
import pytest

from pacsaudit.errors import ConnectTimeout, classify, tls_failure
from pacsaudit.model import ErrorKind, Status
from pacsaudit.probes.fileshare.ftp import aioftp_error
from pacsaudit.probes.fileshare.smb import impacket_error
from pacsaudit.probes.http.transport import httpx_error

SRC = Path(__file__).resolve().parents[1] / "src" / "pacsaudit"


class NetBIOSTimeout(Exception):
    """impacket's own timeout, matched by name (its module is impacket.nmb)."""


def test_a_bare_timeout_is_the_budget_unless_a_library_raised_it() -> None:
    budget = classify(TimeoutError())
    assert budget.error is not None
    assert budget.error.kind is ErrorKind.BUDGET_EXCEEDED
    for adapted in (
        aioftp_error(TimeoutError()),
        impacket_error(TimeoutError(), connected=True),
        impacket_error(NetBIOSTimeout(), connected=False),
        httpx_error(TimeoutError()),
    ):
        error = classify(adapted).error
        assert error is not None
        assert error.kind is ErrorKind.READ_TIMEOUT


def test_the_http_exchange_timeout_keeps_its_detail() -> None:
    error = classify(httpx_error(TimeoutError())).error
    assert error is not None
    assert (error.detail, error.message) == (
        "request-timeout",
        "no complete answer from the peer in time",
    )


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (httpx.RemoteProtocolError("illegal header"), "not-http"),
        (httpcore.LocalProtocolError("bad request"), "http-local"),
        (httpx.DecodingError("broken gzip"), "bad-encoding"),
        (httpx.ReadError("boom"), "http-error"),
    ],
)
def test_httpx_exceptions_become_protocol_errors(exc: BaseException, detail: str) -> None:
    error = classify(httpx_error(exc)).error
    assert error is not None
    assert (error.kind, error.detail) == (ErrorKind.PROTOCOL_VIOLATION, detail)


def test_an_unexpected_ftp_reply_is_named_by_its_code() -> None:
    exc = aioftp.StatusCodeError(aioftp.Code("230"), aioftp.Code("530"), ["530 no"])
    error = classify(aioftp_error(exc)).error
    assert error is not None
    assert (error.kind, error.detail) == (ErrorKind.PROTOCOL_VIOLATION, "reply-530")


def test_impacket_wrapped_socket_errors_are_classified_by_the_original() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    wrapped = OSError("Connection error (192.0.2.1:445)", refused)
    assert classify(impacket_error(wrapped, connected=False)).status is Status.CLOSED
    filtered = Exception("no route")
    filtered.__cause__ = ConnectTimeout()
    assert classify(impacket_error(filtered, connected=False)).status is Status.FILTERED


def test_an_unknown_answer_before_a_session_is_not_smb_and_after_it_unexpected() -> None:
    before = classify(impacket_error(ValueError("garbage"), connected=False)).error
    after = classify(impacket_error(ValueError("garbage"), connected=True)).error
    assert before is not None
    assert before.detail == "not-smb"
    assert after is not None
    assert after.kind is ErrorKind.OS_ERROR
    assert "garbage" not in after.message  # the peer's words never reach the message


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "handshake-timeout"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "reset-during-handshake"),
        (ConnectionResetError(), "closed-during-handshake"),
        (socket.herror(), "herror"),
    ],
)
def test_tls_handshake_failures_get_a_reason_word(exc: BaseException, reason: str) -> None:
    assert tls_failure(exc).reason == reason


def test_an_ssl_error_names_openssl_s_reason() -> None:
    exc = ssl.SSLError(1, "bad")
    exc.reason = "WRONG_VERSION_NUMBER"
    error = classify(tls_failure(exc)).error
    assert error is not None
    assert (error.kind, error.detail) == (ErrorKind.TLS_FAILURE, "wrong-version-number")


def test_only_the_errors_module_decides_statuses() -> None:
    """No module but ``errors.py`` builds a ``Classified``: adapters return exceptions."""
    builders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Classified"
            ):
                builders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert builders == []
