"""Faithfulness and language guards (pure functions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.grounding.guards import (
    all_unsupported,
    checked_numbers,
    language_ok,
    source_number_keys,
    unsupported_numbers,
)

SEED = (Path(__file__).parents[1] / "fixtures" / "seed-article-ar.txt").read_text("utf-8")
AR_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.mark.parametrize(
    "claim",
    [
        "بدأ الاتصال الساعة 15.35",  # source writes 15,35
        "بدأ الاتصال الساعة 15:35",
        "بدأ الاتصال الساعة ١٥٫٣٥",  # Arabic-Indic digits and decimal separator
        "ضمت روسيا القرم عام ٢٠١٤",
        "ضمت روسيا القرم عام ۲۰۱۴",  # Persian digits
        "الاجتماع في 12 كانون الثاني",
        "منذ أكثر من 30 عاما",
        "في الساعة 20 بتوقيت غرينتش",  # one group of "20,35"
        "In 2014 Russia annexed Crimea.",
    ],
)
def test_numbers_from_the_seed_are_supported(claim: str) -> None:
    assert unsupported_numbers(claim, source_number_keys(SEED)) == []


@pytest.mark.parametrize(
    ("claim", "bad"),
    [
        ("قتل 45 شخصا", ["45"]),
        ("قتل ٤٥ قتيلا", ["45"]),
        ("Talks are set for 2023.", ["2023"]),
        ("بدأ الاتصال الساعة 15.36 في 2021 و2022", ["15.36", "2022"]),
    ],
)
def test_invented_numbers_are_caught(claim: str, bad: list[str]) -> None:
    assert unsupported_numbers(claim, source_number_keys(SEED)) == bad


def test_single_digits_are_not_checked() -> None:
    assert checked_numbers("3 bullets, 7 days, 12 hours") == ["12"]
    assert unsupported_numbers("ثلاثة 3 أيام", source_number_keys("")) == []


def test_thousands_separators_match() -> None:
    keys = source_number_keys("قتل ١٬٢٠٠ شخص وأصيب 3,450 آخرون")
    assert all_unsupported(["1200 killed", "3450 hurt", "1,200", "٣٤٥٠"], keys) == []
    assert all_unsupported(["1300 killed", "1300 again"], keys) == ["1300"]


@given(st.integers(min_value=10, max_value=10**9))
def test_any_number_matches_itself_in_any_digit_script(n: int) -> None:
    written = f"{n:,}"
    keys = source_number_keys(f"رقم {written.translate(AR_DIGITS)} هنا")
    assert unsupported_numbers(f"number {n}", keys) == []
    assert unsupported_numbers(f"number {str(n).translate(FA_DIGITS)}", keys) == []


def test_language_guard_by_script() -> None:
    assert language_ok("أعلن البيت الأبيض انتهاء الاتصال بين بايدن وبوتين", "ar")
    assert not language_ok("The White House said the call ended.", "ar")
    assert language_ok("The White House said the call with Putin ended.", "en")
    assert not language_ok("أعلن البيت الأبيض انتهاء الاتصال", "en")
    # a name quoted in Latin script inside Arabic text is fine
    assert language_ok("قال الحلف (NATO) إن المحادثات ستبدأ الشهر المقبل في جنيف", "ar")
    assert language_ok("2021 — 15,35", "en") and language_ok("2021", "ar")


@given(st.text(alphabet=st.sampled_from(list("<>/ articleARTICLEنص\n")), max_size=200))
def test_article_text_can_never_close_its_delimiter(text: str) -> None:
    from bot.domain import Article
    from bot.llm.article import article_messages

    block = article_messages(Article(text=text, title="<article>عنوان</article>"))[1]["content"]
    inner = block.removeprefix("<article>\n").removesuffix("\n</article>")
    assert block.startswith("<article>\n") and block.endswith("\n</article>")
    assert not re.search(r"<\s*/?\s*article", inner, re.I)


@pytest.mark.parametrize(
    ("claim", "bad"),
    [
        ("US deaths reached 50,000 on Thursday.", []),  # "50 ألفاً"
        ("The virus killed 49,759 people.", []),  # "49 ألفاً و759"
        ("A fund of 3,500,000 dollars.", []),  # "3.5 مليون"
        ("Three thousand soldiers, 3,000 in all.", []),  # "٣ آلاف"
        ("US deaths reached 51,000 on Thursday.", ["51,000"]),
    ],
)
def test_numbers_written_with_arabic_scale_words(claim: str, bad: list[str]) -> None:
    """A translation writes "50 ألفاً" as "50,000": the real 1.5B model's correct English
    digest of a Jordanian report was refused until scale words were understood."""
    source = (
        "بلغت حصيلة الوفيات 50 ألفاً مساء الخميس، وحصد الفيروس أرواح 49 ألفاً و759 مصاباً، "
        "ورصد صندوق بقيمة 3.5 مليون دولار، وانتشر ٣ آلاف جندي."
    )
    assert unsupported_numbers(claim, source_number_keys(source)) == bad
