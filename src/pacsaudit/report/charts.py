"""Horizontal bar charts as inline SVG, drawn in Python.

The report must open on an air-gapped workstation and make no request at view time, so there is
no chart library to load: a bar chart is a few ``<rect>`` and ``<text>`` elements. Labels come
from findings (product names, ports) and are escaped like any other peer-supplied text.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from pacsaudit.model import ExposureClass, Severity

ROW_HEIGHT = 22
LABEL_WIDTH = 220
BAR_WIDTH = 280
VALUE_WIDTH = 70
MAX_LABEL_CHARS = 30

SEVERITY_COLOURS: dict[str, str] = {
    Severity.CRITICAL: "#b3001b",
    Severity.HIGH: "#e4572e",
    Severity.MEDIUM: "#f0a202",
    Severity.LOW: "#4f9d69",
    Severity.INFO: "#8a94a6",
}
CLASS_COLOURS: dict[str, str] = {
    ExposureClass.TAMPER_CAPABLE: "#6b0010",
    ExposureClass.PHI_READABLE: SEVERITY_COLOURS[Severity.CRITICAL],
    ExposureClass.WRITABLE: "#c2410c",
    ExposureClass.RETRIEVABLE: SEVERITY_COLOURS[Severity.HIGH],
    ExposureClass.OPEN_ASSOCIATION: SEVERITY_COLOURS[Severity.MEDIUM],
    ExposureClass.ANONYMOUS_ACCESS: SEVERITY_COLOURS[Severity.MEDIUM],
    ExposureClass.MANAGEMENT_EXPOSED: SEVERITY_COLOURS[Severity.MEDIUM],
    ExposureClass.AE_ENFORCED: SEVERITY_COLOURS[Severity.LOW],
    ExposureClass.AUTH_REQUIRED: SEVERITY_COLOURS[Severity.LOW],
    ExposureClass.TLS_ONLY: SEVERITY_COLOURS[Severity.INFO],
    ExposureClass.CLOSED: SEVERITY_COLOURS[Severity.INFO],
}
"""Keyed by the model's enums; as ``StrEnum`` members they look up the strings the reports
read back from findings."""
DEFAULT_COLOUR = "#3b6ea5"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def bar_chart(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, int]],
    *,
    colours: dict[str, str] | None = None,
    max_bars: int = 12,
    unit: str = "services",
) -> Markup:
    """An accessible SVG bar chart; beyond ``max_bars`` categories the rest become "other"."""
    rows = [(label, n) for label, n in items if n > 0]
    if len(rows) > max_bars:
        rest = sum(n for _, n in rows[max_bars - 1 :])
        rows = [*rows[: max_bars - 1], ("other", rest)]
    if not rows:
        return Markup(
            '<figure class="chart empty" data-chart="{0}"><figcaption>{1}</figcaption>'
            "<p>nothing to show</p></figure>"
        ).format(chart_id, title)
    peak = max(n for _, n in rows)
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = ROW_HEIGHT * len(rows) + 6
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{0}" height="{1}" '
            'viewBox="0 0 {0} {1}" aria-label="{2}">'
        ).format(width, height, title)
    ]
    for i, (label, n) in enumerate(rows):
        y = i * ROW_HEIGHT + 3
        bar = max(2, round(BAR_WIDTH * n / peak))
        colour = (colours or {}).get(label, DEFAULT_COLOUR)
        parts.append(
            Markup(
                '<g class="row"><title>{0}: {1} {2}</title>'
                '<text x="{3}" y="{4}" text-anchor="end" class="label">{5}</text>'
                '<rect class="bar" x="{6}" y="{7}" width="{8}" height="{9}" fill="{10}"/>'
                '<text x="{11}" y="{4}" class="value">{1}</text></g>'
            ).format(
                label,
                f"{n:,}",
                unit,
                LABEL_WIDTH - 8,
                y + ROW_HEIGHT // 2 + 4,
                _short(label),
                LABEL_WIDTH,
                y + 2,
                bar,
                ROW_HEIGHT - 6,
                colour,
                LABEL_WIDTH + bar + 6,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup(
        '<figure class="chart" data-chart="{0}"><figcaption>{1}</figcaption>{2}</figure>'
    ).format(chart_id, title, Markup("").join(parts))
