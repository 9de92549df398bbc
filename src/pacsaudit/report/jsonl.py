"""JSON Lines output that never leaves a torn line behind.

Lines are batched and handed to the kernel with ``os.write`` only as whole lines, so an
interrupted scan (Ctrl-C, a crash, ``kill -9`` between writes) leaves a file of complete
records; the batch bounds the loss to what was not yet written, at most ``flush_interval``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import TracebackType

from pacsaudit.model import Finding, encode_finding


class JsonlWriter:
    def __init__(
        self,
        path: Path | None,
        *,
        flush_bytes: int = 64 * 1024,
        flush_interval: float = 0.5,
    ) -> None:
        self.path = path
        if path is None:
            self._fd = sys.stdout.fileno()
            self._owns_fd = False
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._owns_fd = True
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._flush_bytes = flush_bytes
        self._flush_interval = flush_interval
        self._last_flush = time.monotonic()
        self.written = 0

    def write(self, finding: Finding) -> None:
        line = encode_finding(finding)
        self._pending.append(line)
        self._pending_size += len(line)
        if (
            self._pending_size >= self._flush_bytes
            or time.monotonic() - self._last_flush >= self._flush_interval
        ):
            self.flush()

    def flush(self) -> None:
        if self._pending:
            if self._fd == sys.stdout.fileno():
                sys.stdout.flush()
            data = memoryview(b"".join(self._pending))
            while data:
                n = os.write(self._fd, data)
                data = data[n:]
            self.written += len(self._pending)
            self._pending.clear()
            self._pending_size = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._owns_fd:
                os.close(self._fd)
                self._owns_fd = False

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
