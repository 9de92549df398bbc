"""The one rule for text a scanned host sent: keep it printable, make everything else visible.

Every string a peer controls (a DICOM Implementation Version Name, an HTTP header, an Orthanc
``/system`` value, an FTP greeting, a share name, a certificate subject) is written by a
possible attacker. Probes pass it through :func:`printable_text` or :func:`printable_bytes`
*before* it is stored in a result, so that no finding, JSON line, table, log or notice ever
holds a control character that could steer a terminal (``ESC[2J``, an OSC 8 hyperlink, an
OSC 52 clipboard write) or a bidirectional override that reorders what an operator reads.

What is kept is a faithful, escaped sample: a character passes when Python calls it printable
(:meth:`str.isprintable`, the rule behind :func:`repr`: not Cc, Cf, Cs, Co, Cn, Zl, Zp, nor a
space other than U+0020), every other one becomes a Python-style escape (``\\x1b``,
``\\u202e``, ``\\U000e0001``), and the backslash itself becomes ``\\x5c`` so that a peer that
*sends* the four characters ``\\x1b`` is told apart from one that sends ESC. Lengths are bounded
on the peer's characters, whatever the peer sent.

Renderers (the terminal table, log lines) apply :func:`visible` as a last line of defence for
text read back from files: it escapes the same characters but leaves backslashes alone, so it
changes nothing in text that already went through this module.

Imports nothing else from pacsaudit: it sits at the bottom of the layering.
"""

from __future__ import annotations

import logging
import re

_PRINTABLE_ASCII = re.compile(rb"[\x20-\x5b\x5d-\x7e]*")
"""Bytes that pass unchanged: printable ASCII but the backslash."""
_SIMPLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_URL_SCHEME = re.compile(r"\b(h)tt(ps?)://|\b(f)t(p)://", re.IGNORECASE)
_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
_BARE_DOT = re.compile(r"(?<!\[)\.(?!\])")
_DOMAIN = re.compile(
    r"(?<![\w.-])((?:[\w-]+\.)+)([a-z]{2,63})(?![\w-])|(?<=://)([^\s/]+)", re.IGNORECASE
)


def _escape_char(ch: str) -> str:
    simple = _SIMPLE.get(ch)
    if simple is not None:
        return simple
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable_text(text: str, limit: int | None = None) -> str:
    """``text`` (at most ``limit`` of its characters) with every non-printable character and
    the backslash escaped: the form in which peer text is stored."""
    if limit is not None:
        text = text[:limit]
    if text.isprintable() and "\\" not in text:
        return text  # the common case: one C-level scan, no copy
    return "".join(ch if ch.isprintable() and ch != "\\" else _escape_char(ch) for ch in text)


def printable_bytes(data: bytes, limit: int | None = None) -> str:
    """Bytes a peer sent where the protocol says ASCII (DICOM UIDs and names, banners): printable
    ASCII is kept, every other byte (and the backslash) becomes ``\\xNN``, ``\\r``, ``\\n``,
    ``\\t``. Bytes are not decoded as text, so an 8-bit byte is shown as the byte it is."""
    if limit is not None:
        data = data[:limit]
    if _PRINTABLE_ASCII.fullmatch(data):
        return data.decode("ascii")
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else _escape_char(chr(b)) for b in data)


def visible(text: str) -> str:
    """``text`` with its non-printable characters escaped and its backslashes kept: safe to hand
    to a terminal or a log, and a no-op on text that :func:`printable_text` made."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def visible_lines(text: str) -> str:
    """:func:`visible` on each line of a multi-line text, the line breaks kept."""
    return "\n".join(visible(line) for line in text.split("\n"))


class VisibleFormatter(logging.Formatter):
    """A log formatter whose every line (message, arguments, traceback) is :func:`visible`:
    a library may log what a peer sent, and a log line must not steer a terminal either."""

    def format(self, record: logging.LogRecord) -> str:
        return visible_lines(super().format(record))


def defang(text: str) -> str:
    """Peer text with its URLs and domain names made unclickable, the way CERTs write
    indicators: ``http://evil.example/x`` becomes ``hxxp://evil[.]example/x``, a bare
    ``www.evil.example`` becomes ``www[.]evil[.]example``. Version numbers (``1.10.1``) are left
    alone: only dotted names ending in letters, and the host part of a URL, are changed."""
    text = _URL_SCHEME.sub(_defang_scheme, text)
    text = _DOMAIN.sub(_defang_domain, text)
    return _WWW.sub(r"\1[.]", text)  # what GitHub links by itself, even cut short: ``www.e``


def _defang_scheme(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return f"{m.group(1)}xx{m.group(2)}://"
    return f"{m.group(3)}x{m.group(4)}://"


def _defang_domain(m: re.Match[str]) -> str:
    if m.group(3) is not None:  # the host part after a scheme, IP addresses included
        return _BARE_DOT.sub("[.]", m.group(3))
    return _BARE_DOT.sub("[.]", m.group(1) + m.group(2))
