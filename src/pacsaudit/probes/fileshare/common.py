"""What the three file-share probes share beyond the walk: the finding envelope, quiet
third-party loggers, and a bounded pool for the synchronous SMB library."""

from __future__ import annotations

import logging
import time

from pacsaudit.model import ErrorInfo, FileShareResult, Finding, Status, utc_timestamp
from pacsaudit.targets.spec import Target

# Libraries that log peer text (file names in commands and replies) at DEBUG: paths on imaging
# shares can name patients, and ``--log-level DEBUG`` must stay free of PHI.
_CHATTY_LOGGERS = ("aioftp", "impacket", "smbprotocol", "spnego")


def silence_peer_text_loggers() -> None:
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def finding(
    protocol: str,
    target: Target,
    started: float,
    status: Status,
    result: FileShareResult | None,
    error: ErrorInfo | None = None,
) -> Finding:
    return Finding(
        ip=target.ip,
        port=target.port,
        protocol=protocol,
        status=status,
        timestamp=utc_timestamp(),
        result=result,
        error=error,
        host=target.host,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
