"""The admin chart for /stats: the last 14 days as one PNG (matplotlib, Agg backend).

Pure: numbers in, PNG bytes out. Labels are in the admin's language. matplotlib does
not shape Arabic script (letters would render disconnected and left to right), so
Arabic labels are shaped with `arabic-reshaper` (joined presentation forms) and put in
visual order with `python-bidi`, and drawn in DejaVu Sans, the font shipped with
matplotlib, which has the Arabic presentation-form glyphs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.i18n import t

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FONT = "DejaVu Sans"


@dataclass(frozen=True)
class DailySeries:
    """One value per day, oldest first. `hit_ratio` is None on days without lookups."""

    days: list[date]
    digests: list[int]
    hit_ratio: list[float | None]
    tokens: list[int]


def chart_label(lang: str, key: str, **params: Any) -> str:
    """The catalog string `key` as matplotlib must draw it: Arabic reshaped and in
    visual (bidi) order, other languages as they are."""
    text = t(lang, key, **params)
    if lang != "ar":
        return text
    import arabic_reshaper
    from bidi.algorithm import get_display

    return str(get_display(arabic_reshaper.reshape(text)))


def chart_figure(series: DailySeries, lang: str = "en") -> Figure:
    """The 3-panel figure (digests per day, cache hit ratio, LLM tokens), not rendered."""
    from matplotlib.figure import Figure  # Figure avoids pyplot's global state

    labels = [d.strftime("%m-%d") for d in series.days]
    x = list(range(len(labels)))
    fig = Figure(figsize=(8, 7), dpi=100)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    ax1.bar(x, series.digests, color="#2b6cb0")
    ax1.set_ylabel(chart_label(lang, "stats.chart_digests"), fontfamily=FONT)
    ratios = [r * 100 if r is not None else float("nan") for r in series.hit_ratio]
    ax2.plot(x, ratios, marker="o", color="#2f855a")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel(chart_label(lang, "stats.chart_hit_ratio"), fontfamily=FONT)
    ax3.bar(x, series.tokens, color="#b7791f")
    ax3.set_ylabel(chart_label(lang, "stats.chart_tokens"), fontfamily=FONT)
    ax3.set_xticks(x, labels, rotation=45, ha="right")
    fig.suptitle(chart_label(lang, "stats.chart_title", days=len(labels)), fontfamily=FONT)
    for ax in (ax1, ax2, ax3):
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def stats_chart_png(series: DailySeries, lang: str = "en") -> bytes:
    """Render the chart (labels in `lang`) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    fig = chart_figure(series, lang)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
