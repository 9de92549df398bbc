"""Test-wide guard: no test may connect anywhere but loopback.

Every connection pacsaudit makes goes through ``socket.socket.connect_ex`` (see
``pacsaudit.net.stream``); libraries use ``connect``. Both are wrapped for the whole session,
so a test that aims at any other address fails with a clear message instead of sending a packet.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NonLoopbackConnect(AssertionError):
    pass


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets never leave the machine
    host = address[0] if isinstance(address, tuple) else address
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        raise NonLoopbackConnect(f"test tried to connect to a host name: {host!r}") from None
    if not ip.is_loopback and not (
        isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback
    ):
        raise NonLoopbackConnect(f"test tried to connect outside loopback: {host}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture
def deny_listing(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make one folder unlistable (EACCES from ``os.scandir``), as mode 000 does for anyone
    but root: simulated, so tests of unreadable folders run as root too."""

    def deny(folder: Path) -> None:
        real_scandir = os.scandir

        def scandir(path: object = ".") -> object:
            if Path(str(path)) == folder:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_scandir(path)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "scandir", scandir)

    return deny
