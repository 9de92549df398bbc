"""What the three file-share probes share beyond the walk: quiet third-party loggers."""

from __future__ import annotations

import logging

__all__ = ["silence_peer_text_loggers"]

# Libraries that log peer text (file names in commands and replies) at DEBUG: paths on imaging
# shares can name patients, and ``--log-level DEBUG`` must stay free of PHI.
_CHATTY_LOGGERS = ("aioftp", "impacket", "smbprotocol", "spnego")


def silence_peer_text_loggers() -> None:
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
