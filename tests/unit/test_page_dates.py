"""Article dates in every Arabic month-name system and digit script, and on pages
whose metadata disagrees with the date they show (UTC vs local, bogus "modified")."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from bot.ingest.dates import find_date
from bot.ingest.extract import extract_html
from bot.ingest.overlap import token_f1
from bot.ingest.page_dates import meta_dates, parse_stamp

PAGES = Path(__file__).parents[1] / "fixtures" / "real" / "pages"
ROWS = list(csv.DictReader((PAGES / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))

LEVANTINE = "كانون الثاني، شباط، آذار، نيسان، أيار، حزيران، تموز، آب، أيلول، تشرين الأول، تشرين الثاني، كانون الأول"
EGYPTIAN = "يناير، فبراير، مارس، أبريل، مايو، يونيو، يوليو، أغسطس، سبتمبر، أكتوبر، نوفمبر، ديسمبر"
EGYPTIAN_VARIANTS = {"إبريل": 4, "ابريل": 4, "يونيه": 6, "يوليه": 7, "اغسطس": 8}
MAGHREBI = "جانفي، فيفري، مارس، أفريل، ماي، جوان، جويلية، أوت، سبتمبر، أكتوبر، نوفمبر، ديسمبر"
MOROCCAN = "يناير، فبراير، مارس، أبريل، ماي، يونيو، يوليوز، غشت، شتنبر، أكتوبر، نونبر، دجنبر"
SYSTEMS = {"levantine": LEVANTINE, "egyptian": EGYPTIAN, "maghrebi": MAGHREBI, "moroccan": MOROCCAN}
CASES = [
    (system, month, number)
    for system, names in SYSTEMS.items()
    for number, month in enumerate(names.split("، "), 1)
] + [("egyptian-variant", month, number) for month, number in EGYPTIAN_VARIANTS.items()]


@pytest.mark.parametrize(("system", "month", "number"), CASES)
def test_every_month_name_system(system: str, month: str, number: int) -> None:
    assert find_date(f"نشر في الأربعاء 7 {month} 2021 - 10:15") == date(2021, number, 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("الجمعة ٢٤ نيسان ٢٠٢٠", date(2020, 4, 24)),
        ("الثلاثاء ١ / ١٢ / ٢٠٢٠", date(2020, 12, 1)),
        ("۱۲ مارس ۲۰۲۴", date(2024, 3, 12)),
        ("تاريخ النشر: ۰۵/۰۷/۱۴۰۳ - 2024-07-25", date(2024, 7, 25)),
        ("٠٣ جويلية ٢٠٢٣", date(2023, 7, 3)),
    ],
)
def test_arabic_indic_and_persian_digits(text: str, expected: date) -> None:
    assert find_date(text) == expected


def page(head: str, dateline: str, title: str = "الحكومة تعلن خطة جديدة لدعم المزارعين") -> str:
    """A news page as Arabic CMSs write it: meta tags, headline, dateline, body."""
    body = "".join(
        f"<p>{p}</p>"
        for p in (
            "أعلنت الحكومة اليوم عن خطة جديدة لدعم المزارعين في المناطق الريفية، تشمل قروضا"
            " ميسرة وبذورا محسنة وتدريبا على أساليب الري الحديثة.",
            "وقال وزير الزراعة في مؤتمر صحفي إن الخطة ستنفذ على ثلاث مراحل خلال العامين"
            " المقبلين، وإن كلفتها الإجمالية تبلغ نحو مئتي مليون دولار.",
            "وأضاف أن الحكومة ستراجع نتائج المرحلة الأولى بعد ستة أشهر من بدء التنفيذ.",
        )
    )
    return (
        f"<html lang='ar' dir='rtl'><head><meta charset='utf-8'><title>{title} - أخبار البلد"
        f"</title>{head}</head><body><header><nav><a href='/'>الرئيسية</a></nav></header>"
        f"<article><h1>{title}</h1><div class='post-meta'><span class='date'>{dateline}"
        f"</span></div><div class='entry-content'>{body}</div></article>"
        "<footer>جميع الحقوق محفوظة © أخبار البلد</footer></body></html>"
    )


def test_utc_metadata_a_day_before_the_local_date_yields_the_local_date() -> None:
    html = page(
        "<meta property='article:published_time' content='2024-03-14T22:30:00Z'>",
        "الجمعة، 15 مارس 2024 - 01:30 ص",
    )
    assert extract_html(html, "https://example.com/a").published == date(2024, 3, 15)


def test_zoned_metadata_far_from_midnight_is_kept() -> None:
    html = page(
        "<meta property='article:published_time' content='2024-03-14T10:00:00+00:00'>",
        "آخر تحديث: 15 آذار 2024",
    )
    assert extract_html(html, None).published == date(2024, 3, 14)


def test_json_ld_utc_and_a_maghrebi_dateline() -> None:
    ld = '{"@context":"https://schema.org","@type":"NewsArticle","datePublished":"2023-07-11T23:10:00Z"}'
    html = page(f"<script type='application/ld+json'>{ld}</script>", "12 جويلية 2023")
    assert extract_html(html, None).published == date(2023, 7, 12)


def test_a_modified_date_earlier_than_published_is_ignored() -> None:
    head = (
        "<meta property='article:published_time' content='2020-06-03T03:01+0400'>"
        "<meta property='article:modified_time' content='2020-03-15T20:18+0400'>"
    )
    assert extract_html(page(head, "03 يونيو 2020"), None).published == date(2020, 6, 3)
    only_modified = "<meta property='article:modified_time' content='2020-03-15T20:18+0400'>"
    found = extract_html(page(only_modified, "03 يونيو 2020"), None).published
    assert found == date(2020, 6, 3)


@pytest.mark.parametrize(
    ("dateline", "expected"),
    [
        ("الأربعاء 20 شتنبر 2023 - 14:05", date(2023, 9, 20)),
        ("نشر في 3 فيفري 2022", date(2022, 2, 3)),
        ("الخميس ١٤ تشرين الثاني ٢٠٢٤", date(2024, 11, 14)),
        ("الاثنين 2 يونيه 2025", date(2025, 6, 2)),
    ],
)
def test_visible_dateline_without_metadata(dateline: str, expected: date) -> None:
    assert extract_html(page("", dateline), None).published == expected


def test_metadata_written_in_arabic_words() -> None:
    head = "<meta property='article:published_time' content='الأربعاء، 07 أكتوبر 2020 - 12:09 م'>"
    assert meta_dates(page(head, "")).published[0].day == date(2020, 10, 7)


def test_stamps() -> None:
    stamp = parse_stamp("2020-06-03T03:01+0400")
    assert stamp is not None and stamp.day == date(2020, 6, 3) and stamp.moment is not None
    naive = parse_stamp("2020-12-01 02:00:00")
    assert naive is not None and naive.moment is None
    assert parse_stamp("not a date") is None


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_real_pages_keep_their_date_and_body(row: dict[str, str]) -> None:
    html = (PAGES / row["file"]).read_text(encoding="utf-8")
    article = extract_html(html, None)
    assert article.published == date.fromisoformat(row["pub_date"])
    expected = (PAGES / row["expected_file"]).read_text(encoding="utf-8")
    assert token_f1(article.text, expected) >= 0.995
