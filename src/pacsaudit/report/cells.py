"""Cells of the terminal tables: data is always data, never markup.

Every value in a finding may come from a scanned host (a version name, a ``Server`` header, a
share name), so no cell is a markup string built from values: rich would read
``[link=http://evil.example/]`` as a live hyperlink and ``[/bold]`` as a closing tag that raises
``MarkupError`` and loses the whole summary. A cell is a :class:`rich.text.Text` whose style is
set apart from its characters, and its characters pass through :func:`pacsaudit.peertext.visible`
(a no-op on findings the probes cleaned; a last defence for results read back from old files).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from pacsaudit.model import Exposure, TlsInfo
from pacsaudit.peertext import visible

Part = str | tuple[str, str]
"""A piece of a cell: plain text, or ``(text, style)``."""


def cell(*parts: Part) -> Text:
    """One cell from plain and styled pieces; every piece's text is shown literally."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(visible(part[0]), style=part[1])
        else:
            text.append(visible(part))
    return text


def joined(separator: str, cells: Iterable[Text]) -> Text:
    """Cells joined by a plain separator (``"; "`` between notes, ``", "`` between shares)."""
    return Text(separator).join(cells)


def count_text(n: int | None, lower: bool) -> str:
    """A count as the tables show it: ``?`` when unknown, ``≥n`` when a bound cut it short."""
    if n is None:
        return "?"
    return f"≥{n:,}" if lower else f"{n:,}"


def tls_text(tls: TlsInfo | None) -> str:
    """The TLS column: ``-`` for none, else the version (``yes`` when unknown), self-signed
    certificates named."""
    if tls is None:
        return "-"
    text = tls.version or "yes"
    if tls.certificate is not None and tls.certificate.self_signed:
        text += " self-signed"
    return text


def exposure_text(e: Exposure) -> str:
    """Patients, studies and images a stranger can list: ``12 pt / 30 st / ≥10,000 im``."""
    return (
        f"{count_text(e.patients, e.patients_lower_bound)} pt / "
        f"{count_text(e.studies, e.studies_lower_bound)} st / "
        f"{count_text(e.images, e.images_lower_bound)} im"
    )
