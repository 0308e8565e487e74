"""Publication dates written in Arabic and English text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.dates import date_line_spans, find_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # MSA, with the Arabic comma before the year (the seed)
        ("تاريخ النشر الأصلي: 31 ديسمبر، 2021", date(2021, 12, 31)),
        ("نشر في 5 أغسطس 2020", date(2020, 8, 5)),
        ("نشر في 5 اغسطس 2020", date(2020, 8, 5)),
        ("السبت 3 إبريل 2021", date(2021, 4, 3)),
        ("الخميس 17 يونيه 2010", date(2010, 6, 17)),
        # Levantine month names, one and two words
        ("نشر في 3 تشرين الأول 2019", date(2019, 10, 3)),
        ("آخر تحديث: الجمعة 7 شباط 2020", date(2020, 2, 7)),
        ("دمشق في 15 كانون الثاني 2014", date(2014, 1, 15)),
        ("بيروت 2 كانون الأول 2016", date(2016, 12, 2)),
        ("نشر بتاريخ: 1 أيلول، 2015", date(2015, 9, 1)),
        ("9 حزيران 2022", date(2022, 6, 9)),
        # double forms
        ("الأربعاء، 28 آب/اغسطس 2013، آخر تحديث 14:00 (GMT+0400)", date(2013, 8, 28)),
        ("في 12 كانون ثان/ يناير 2022 المقبل", date(2022, 1, 12)),
        ("بتاريخ 30 يونيو/ حزيران 2021", date(2021, 6, 30)),
        ("الأحد 28 أغسطس (آب) 2022", date(2022, 8, 28)),
        ("يوم 3 يناير/كانون الثاني 2020", date(2020, 1, 3)),
        ("الخميس، ٥ تشرين الثاني/نوفمبر ٢٠٢٠", date(2020, 11, 5)),
        # Arabic-Indic and Persian digits
        ("نشر في ١٢ كانون ثان/ يناير ٢٠٢٢", date(2022, 1, 12)),
        ("تاريخ النشر: ۲۵ مارس ۲۰۱۹", date(2019, 3, 25)),
        ("٢٠٢١/٠٥/٠٩", date(2021, 5, 9)),
        # Maghrebi
        ("الجزائر في 14 جويلية 2021", date(2021, 7, 14)),
        # English
        ("Published March 5, 2020", date(2020, 3, 5)),
        ("Sunday, 28 August 2022 12:00 GMT", date(2022, 8, 28)),
        ("August 28th, 2022", date(2022, 8, 28)),
        ("Published: 5th March 2020", date(2020, 3, 5)),
        ("Updated Sept. 12, 2018 at 10:00", date(2018, 9, 12)),
        # numeric
        ("31/12/2021", date(2021, 12, 31)),
        ("تاريخ النشر: 2021/5/9 - 10:30", date(2021, 5, 9)),
        ("2020-02-30 is not a date but 2020-03-01 is", date(2020, 3, 1)),
    ],
)
def test_find_date(text: str, expected: date) -> None:
    assert find_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "لا يوجد تاريخ هنا، فقط 12 شخصا و 2000 دولار",
        "نشر في: منذ 3 ساعات",  # relative: depends on the clock, not trusted
        "قتل 45 شخصا في 1800 غارة",
        "في 31 فبراير 2021",  # not a real day
        "في 3 مارس 1850",  # implausible year
    ],
)
def test_no_date(text: str) -> None:
    assert find_date(text) is None


def test_labelled_publication_date_wins_over_earlier_dates() -> None:
    text = "اتفاق 12 مارس 2019 بين الطرفين\nتاريخ النشر: 4 نيسان 2020\nنص الخبر"
    assert find_date(text) == date(2020, 4, 4)


def test_publication_label_wins_over_update_label() -> None:
    text = "آخر تحديث: 9 أيار 2021\nنشر في 2 أيار 2021"
    assert find_date(text) == date(2021, 5, 2)


def test_unlabelled_dates_only_in_the_head() -> None:
    text = "نص " * 1000 + "في 3 مارس 2020"
    assert find_date(text) is None
    assert find_date(text, scan_chars=10_000) == date(2020, 3, 3)


def test_seed_date_and_its_metadata_line(seed_text: str) -> None:
    assert find_date(seed_text) == date(2021, 12, 31)
    assert date_line_spans(seed_text) == ["تاريخ النشر الأصلي: 31 ديسمبر، 2021"]


@settings(deadline=None)  # the 2-core CI machine is shared; no timing asserts
@given(st.text(max_size=400))
def test_find_date_never_raises(text: str) -> None:
    found = find_date(text)
    assert found is None or 1970 <= found.year <= 2100
