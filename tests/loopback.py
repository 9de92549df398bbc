"""Ports on loopback for the tests' own servers: the one helper every server fixture shares."""

from __future__ import annotations

import socket


def free_port(ip: str = "127.0.0.1") -> int:
    """A port with nothing listening on ``ip`` (bind, read the number, close)."""
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
    return port
