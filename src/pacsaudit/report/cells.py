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
