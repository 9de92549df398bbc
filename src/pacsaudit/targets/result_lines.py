"""What every reader of a scanner's result file shares: bounded lines, errors, the records.

A result file is the user's, but its contents came from the network (masscan's banners, nmap's
host names): lines are read with a length cap, and a broken file is an error that names
``file:line`` or, at its end, a warning that it was cut. :mod:`pacsaudit.targets.readers`
detects the format and holds the ZMap and masscan parsers; :mod:`pacsaudit.targets.nmap_results`
the nmap-style formats (grepable ``-oG`` and XML ``-oX``, which masscan writes too).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Iterator
from typing import IO

import msgspec

from pacsaudit.usage import UsageError

MAX_LINE_CHARS = 64 * 1024
"""Longer lines are malformed (a masscan banner record stays far below this)."""
MAX_RECORD_LINES = 200
"""A pretty-printed JSON record may span lines, up to this many."""
BOM = "\ufeff"
"""A UTF-8 byte order mark, which Windows editors and PowerShell's ``Out-File`` put first:
dropped from the first line, as it is no part of the data."""
MAX_PROBLEMS = 5
"""Malformed lines remembered for the summary when they are skipped, not raised."""


class ResultsError(UsageError):
    """A result file that cannot be read as the format it claims; names ``file:line``."""


class OpenPort(msgspec.Struct, frozen=True):
    """One open port found by the first-stage scanner; ``port`` is None when the file has
    none (ZMap's plain list), and the user's ports apply."""

    ip: str
    port: int | None


class ReadStats(msgspec.Struct):
    """What a reader saw, for the summary line and to tell an empty scan from a broken file."""

    origin: str
    variant: str = ""
    """``zmap-plain``, ``zmap-csv``, ``zmap-json``, ``masscan-list``, ``masscan-json``,
    ``masscan-grepable``, ``masscan-xml``, ``nmap-grepable``, ``nmap-xml`` or ``empty``."""
    records: int = 0
    not_open: int = 0
    """Closed ports and unsuccessful rows, present when the scanner was told to keep them."""
    other: int = 0
    """Banners, ARP, ICMP, UDP, SCTP: not a TCP port to speak DICOM to."""
    malformed: int = 0
    problems: list[str] = msgspec.field(default_factory=list)
    truncated: bool = False
    """The file ends inside a record or without the scanner's end marker."""
    unterminated: bool = False
    """The last line has no newline but parsed: if the file was cut there, its address or port
    may be cut too (``192.0.2.1`` from ``192.0.2.13``). Scanners end every line, so warn."""
    out_of_scope: int = 0
    """Addresses dropped by :func:`targets_from_results`: blocked or not among the targets."""
    duplicates: int = 0

    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.truncated:
            out.append(
                f"{self.origin}: the file ends early (scan interrupted or file cut); "
                "using every complete record before the end"
            )
        if self.unterminated:
            out.append(
                f"{self.origin}: the last line has no newline; if the file was cut, its last "
                "address or port may be incomplete"
            )
        if self.malformed:
            shown = "; ".join(self.problems)
            out.append(f"{self.origin}: skipped {self.malformed} malformed line(s): {shown}")
        if self.out_of_scope:
            out.append(
                f"{self.origin}: {self.out_of_scope} address(es) outside the targets or "
                "blocklisted, not probed"
            )
        return out


class Line(msgspec.Struct, frozen=True):
    number: int
    text: str
    terminated: bool
    """Ended with a newline; the last line of a cut file is not."""
    overlong: bool = False


class Context:
    """Per-file state shared by the parsers: where we are and what to do with bad lines."""

    def __init__(self, origin: str, strict: bool, stats: ReadStats) -> None:
        self.origin = origin
        self.strict = strict
        self.stats = stats

    def bad(self, line: Line, reason: str) -> None:
        if not line.terminated and (line.number > 1 or could_be_cut(line.text)):
            # the last line of a file cut while written; a lone unterminated line that no
            # scanner could have begun (prose, binary) is named like any malformed line
            self.stats.truncated = True
            return
        message = f"{self.origin}:{line.number}: {reason}"
        if self.strict:
            raise ResultsError(message)
        self.stats.malformed += 1
        if len(self.stats.problems) < MAX_PROBLEMS:
            self.stats.problems.append(message)

    def refuse(self, line: Line, reason: str) -> ResultsError:
        """The whole file is of the wrong kind: always an error, strict or not."""
        return ResultsError(f"{self.origin}:{line.number}: {reason}")


PLAIN_RECORD = re.compile(r"[A-Za-z0-9_.:,\[\]]{0,200}")


def could_be_cut(text: str) -> bool:
    """Whether an unterminated first line may be the start of a scanner's output cut while
    it was written: a JSON record or array, XML, a masscan list line or comment, a grepable
    host line, or an address or CSV header (no spaces). Prose or binary is no scanner's
    beginning."""
    return (
        text[:1] in ("{", "[", "#", "<")
        or text.startswith(("Host:", "Timestamp:"))
        or text.split(" ", 1)[0] in MASSCAN_LIST_WORDS
        or bool(PLAIN_RECORD.fullmatch(text))
    )


def bounded_lines(stream: IO[str]) -> Iterator[Line]:
    """Lines of at most :data:`MAX_LINE_CHARS`; the rest of a longer line is read in bounded
    chunks and dropped, and the line is marked overlong."""
    number = 0
    while True:
        chunk = stream.readline(MAX_LINE_CHARS + 1)
        if not chunk:
            return
        number += 1
        overlong = False
        if len(chunk) > MAX_LINE_CHARS and not chunk.endswith("\n"):
            overlong = True
            while chunk and not chunk.endswith("\n"):  # ends: each read consumes input
                chunk = stream.readline(MAX_LINE_CHARS)
        terminated = chunk.endswith("\n")
        text = "" if overlong else chunk.rstrip("\r\n")
        if number == 1:
            text = text.removeprefix(BOM)
        yield Line(number, text, terminated, overlong)


def lines_of(lines: Iterable[str]) -> Iterator[Line]:
    """Lines given as strings (tests, stdin already split): the same shape as from a file."""
    for number, raw in enumerate(lines, 1):
        terminated = raw.endswith("\n")
        overlong = len(raw) > MAX_LINE_CHARS
        text = "" if overlong else raw.rstrip("\r\n")
        yield Line(number, text.removeprefix(BOM) if number == 1 else text, terminated, overlong)


MASSCAN_LIST_WORDS = frozenset({"open", "closed", "banner", "up", "unknown"})


def address(text: str) -> str | None:
    """The canonical text of an IP address (so duplicates compare equal), or None."""
    text = text.strip()
    try:  # the common case, in C; inet_pton takes only canonical dotted quads
        socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        pass
    else:
        return text
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def port_number(value: object) -> int | None:
    """A TCP port 1–65535 from a number or ASCII digits, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 5):
            return None
        value = int(text)
    if isinstance(value, int) and 1 <= value <= 65535:
        return value
    return None
