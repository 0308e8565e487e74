"""The /stats chart speaks the admin's language (issue 11, point 9): Arabic labels are
reshaped (joined letter forms) and in visual order, drawn with a font that has them."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import arabic_reshaper
import pytest
from bidi.algorithm import get_display

from bot.charts import DailySeries, chart_figure, stats_chart_png
from bot.i18n import t

DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(14)]
SERIES = DailySeries(
    days=DAYS,
    digests=list(range(14)),
    hit_ratio=[None, *[i / 14 for i in range(13)]],
    tokens=[i * 100 for i in range(14)],
)
KEYS = ["stats.chart_digests", "stats.chart_hit_ratio", "stats.chart_tokens"]


def texts(lang: str) -> tuple[list[str], str]:
    fig = chart_figure(SERIES, lang)
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return [ax.get_ylabel() for ax in fig.axes], suptitle


def shaped(text: str) -> str:
    return str(get_display(arabic_reshaper.reshape(text)))


def test_arabic_admins_get_shaped_arabic_labels() -> None:
    labels, title = texts("ar")
    assert labels == [shaped(t("ar", k)) for k in KEYS]
    assert title == shaped(t("ar", "stats.chart_title", days=14))
    for label in [*labels, title]:
        # joined presentation forms (U+FB50-U+FEFF), not the isolated letters
        assert any("\ufb50" <= ch <= "\ufeff" for ch in label), label
        assert not any("a" <= ch.lower() <= "z" for ch in label.replace("%", ""))
    assert "14" in title  # digits keep their order


def test_english_admins_keep_english_labels() -> None:
    labels, title = texts("en")
    assert labels == [t("en", k) for k in KEYS] and title == "Last 14 days"


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_the_chart_renders_with_every_glyph(lang: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font" would raise
        png = stats_chart_png(SERIES, lang)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
