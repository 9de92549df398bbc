"""What the three file-share probes share beyond the walk: their catalogue entry as class
attributes, the walk's options and indicator list, a fresh tally per target, quiet loggers."""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from pacsaudit.probes.fileshare.indicators import IndicatorList, shipped_indicators
from pacsaudit.probes.fileshare.options import WalkOptions
from pacsaudit.probes.fileshare.walk import WalkTally
from pacsaudit.probes.spec import ProbeSpec

__all__ = ["ShareProbe", "silence_peer_text_loggers"]

# Libraries that log peer text (file names in commands and replies) at DEBUG: paths on imaging
# shares can name patients, and ``--log-level DEBUG`` must stay free of PHI.
_CHATTY_LOGGERS = ("aioftp", "impacket", "smbprotocol", "spnego")


def silence_peer_text_loggers() -> None:
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


class ShareProbe:
    """The base of a share probe: ``class FtpProbe(ShareProbe, spec=FTP)`` takes its name,
    description and default ports from its catalogue entry, so they are written once."""

    name: ClassVar[str]
    description: ClassVar[str]
    default_ports: ClassVar[tuple[int, ...]]

    def __init_subclass__(cls, *, spec: ProbeSpec, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = spec.key
        cls.description = spec.description
        cls.default_ports = spec.ports

    def __init__(
        self, options: WalkOptions | None = None, indicators: IndicatorList | None = None
    ) -> None:
        self.options = options or WalkOptions()
        self.options.validate()
        self.indicators = indicators or shipped_indicators()
        silence_peer_text_loggers()

    def new_tally(self) -> WalkTally:
        """The counts of one target's walk, its time budget starting now."""
        return WalkTally(self.options, self.indicators, time.monotonic() + self.options.budget)
