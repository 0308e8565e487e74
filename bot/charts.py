"""The admin chart for /stats: the last 14 days as one PNG (matplotlib, Agg backend).

Pure: numbers in, PNG bytes out. Labels come from the English catalog even for Arabic
admins, because matplotlib does not shape Arabic script (letters would render
disconnected and left to right); the message caption is in the admin's language.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from bot.i18n import t


@dataclass(frozen=True)
class DailySeries:
    """One value per day, oldest first. `hit_ratio` is None on days without lookups."""

    days: list[date]
    digests: list[int]
    hit_ratio: list[float | None]
    tokens: list[int]


def stats_chart_png(series: DailySeries) -> bytes:
    """Render digests per day, cache hit ratio and LLM tokens as a 3-panel PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # Figure avoids pyplot's global state

    labels = [d.strftime("%m-%d") for d in series.days]
    x = list(range(len(labels)))
    fig = Figure(figsize=(8, 7), dpi=100)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    ax1.bar(x, series.digests, color="#2b6cb0")
    ax1.set_ylabel(t("en", "stats.chart_digests"))
    ratios = [r * 100 if r is not None else float("nan") for r in series.hit_ratio]
    ax2.plot(x, ratios, marker="o", color="#2f855a")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel(t("en", "stats.chart_hit_ratio"))
    ax3.bar(x, series.tokens, color="#b7791f")
    ax3.set_ylabel(t("en", "stats.chart_tokens"))
    ax3.set_xticks(x, labels, rotation=45, ha="right")
    fig.suptitle(t("en", "stats.chart_title", days=len(labels)))
    for ax in (ax1, ax2, ax3):
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
