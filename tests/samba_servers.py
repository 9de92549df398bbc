"""A real smbd on a free loopback port for the tests that need one outside the lab.

One place starts it, waits for its port (bounded), and stops it with the ``samba-dcerpcd``
it spawns in a session of its own (``pacsaudit.lab.services.samba_helpers_of``), so no test
leaves Samba processes behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacsaudit.lab.services import samba_helpers_of

START_TIMEOUT = 20.0
"""smbd opens its port in about a second."""


@contextlib.contextmanager
def running_smbd(root: Path, conf: Path, port: int) -> Iterator[None]:
    """smbd on ``conf`` (which listens on 127.0.0.1:``port``) until the block ends."""
    if shutil.which("smbd") is None:
        pytest.fail("Samba's smbd is needed: `make test` installs it")
    log_path = root / "smbd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                "smbd",
                "--foreground",
                "--no-process-group",
                f"--configfile={conf}",
                "--debug-stdout",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_port(proc, port, log_path)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            for pid in samba_helpers_of(root):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGTERM)


def _wait_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"smbd did not open its port within {START_TIMEOUT:.0f} s")
