"""The rule for peer text (``pacsaudit.peertext``): printable out, faithful, bounded, defanged."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pacsaudit.peertext import defang, printable_bytes, printable_text, visible, visible_lines

_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[nrt])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t"}


def unescape(text: str) -> str:
    """The inverse of :func:`printable_text`: shows that nothing the peer sent is lost."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return _SIMPLE.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(one, text)


def test_control_and_format_characters_become_escapes() -> None:
    assert printable_text("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable_text("\u202eevil\u2066") == "\\u202eevil\\u2066"  # bidi override, isolate
    assert printable_text("x\x9by") == "x\\x9by"  # C1 CSI
    assert printable_text("x\x7f\x00\u200b\ufeff") == "x\\x7f\\x00\\u200b\\ufeff"
    assert printable_text("\U000e0041") == "\\U000e0041"  # a tag character
    assert printable_text("l1\r\nl2\t") == "l1\\r\\nl2\\t"
    assert printable_text("a\\x1b") == "a\\x5cx1b"  # a backslash sent is not an escape we wrote


def test_printable_text_is_kept_as_it_is() -> None:
    for text in ("OFFIS_DCMTK_367", "Orthanc 1.10.1", "Müller Radiologie", "放射線", "[/bold]"):
        assert printable_text(text) == text


def test_bounds_count_the_peers_characters() -> None:
    assert printable_text("\x1b" * 100, 3) == "\\x1b" * 3
    assert printable_bytes(b"A" * 100, 10) == "A" * 10


def test_bytes_keep_printable_ascii_and_escape_the_rest() -> None:
    assert printable_bytes(b"1.2.3") == "1.2.3"
    assert printable_bytes(b"V\xff\x1b]52;c;ZXZpbA==\x07") == "V\\xff\\x1b]52;c;ZXZpbA==\\x07"
    assert printable_bytes(b"\xc3\xa9") == "\\xc3\\xa9"  # shown as the bytes, not decoded


@settings(max_examples=300)
@given(st.text())
def test_any_text_comes_out_printable_and_round_trips(text: str) -> None:
    out = printable_text(text)
    assert out.isprintable()
    assert unescape(out) == text
    assert visible(out) == out  # a renderer's last check changes nothing already clean


@settings(max_examples=300)
@given(st.binary())
def test_any_bytes_come_out_printable_ascii(data: bytes) -> None:
    out = printable_bytes(data)
    assert out.isascii()
    assert out.isprintable()
    assert unescape(out).encode("latin-1") == data


@settings(max_examples=300)
@given(st.text())
def test_visible_output_is_printable(text: str) -> None:
    assert visible(text).isprintable()
    assert all(line.isprintable() for line in visible_lines(text).split("\n"))


def test_defang_urls_and_domains_as_indicators_are_written() -> None:
    assert defang("see http://evil.example/x") == "see hxxp://evil[.]example/x"
    assert defang("HTTPS://203.0.113.7:8042/app") == "HxxPS://203[.]0[.]113[.]7:8042/app"
    assert defang("ftp://files.evil.example") == "fxp://files[.]evil[.]example"
    assert defang("visit www.evil.example now") == "visit www[.]evil[.]example now"
    assert defang("mail admin@evil.example") == "mail admin@evil[.]example"
    assert defang("cut short: www.e") == "cut short: www[.]e"  # GitHub links it all the same


def test_defang_leaves_versions_and_plain_names_alone() -> None:
    for text in ("Orthanc 1.10.1", "nginx/1.24.0", "OFFIS_DCMTK_367", "DCMTK 3.6.7 (2 CVE)"):
        assert defang(text) == text


def test_defang_is_stable() -> None:
    once = defang("http://a.evil.example/ and www.b.example")
    assert defang(once) == once
