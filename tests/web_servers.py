"""Real web servers with directory listings on free loopback ports, for the tests that need
one outside the lab: nginx ``autoindex``, nginx WebDAV (the lab's own configuration,
:func:`pacsaudit.lab.web.nginx_conf`) and Python's ``http.server``.

One place starts each, waits for its port (bounded) and stops it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopback import free_port
from pacsaudit.lab.web import nginx_argv, nginx_conf

START_TIMEOUT = 10.0
"""nginx opens its port in a few milliseconds, http.server in about 0.1 s."""


@contextlib.contextmanager
def running(argv: list[str], port: int, log_path: Path) -> Iterator[int]:
    """``argv`` until the block ends; yields the port once it accepts connections."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-2000:]
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"{argv[0]} did not open port {port} in {START_TIMEOUT:.0f} s")
                time.sleep(0.02)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextlib.contextmanager
def running_nginx(folder: Path, tree: Path, *, dav: bool) -> Iterator[int]:
    """nginx serving ``tree`` (autoindex, or WebDAV with ``dav``); yields its port."""
    if shutil.which("nginx") is None:
        pytest.fail("nginx is needed: `make test` installs nginx-light")
    port = free_port()
    conf = nginx_conf(folder, tree, port, dav=dav)
    with running(nginx_argv(conf), port, folder / "nginx.log") as p:
        yield p


@contextlib.contextmanager
def running_http_server(folder: Path, tree: Path) -> Iterator[int]:
    """``python -m http.server`` listing ``tree``; yields its port."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "-d", str(tree)]
    with running(argv, port, folder / "http-server.log") as p:
        yield p
