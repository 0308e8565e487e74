"""The checks that let a small model's English through (issue 21.3): its name list,
the English field pattern, and the cut-sentence rule shared with answers."""

from __future__ import annotations

import re

import pytest

from bot.grounding.names import unmatched_names
from bot.grounding.sentence import whole
from bot.summarize.schema import LATIN_TEXT
from bot.summarize.translate import _bullet_problem

SOURCE = "قال الرئيس الأميركي جو بايدن إن البيت الأبيض سيعلن القرار في موسكو."


SENTENCE = "وقال وزير الخارجية سامح شكري إن مصر ستستضيف 3 اجتماعات في القاهرة خلال شهر يناير 2027."


@pytest.mark.parametrize(
    ("english", "why"),
    [
        (
            "Foreign Minister Sameh Shoukry said Egypt will host 3 meetings in Cairo in January 2027.",
            "",
        ),
        (
            "Foreign Minister Sameh Shoukry said Egypt will host 3 meetings in Cairo in "
            "January 2027, which remains",
            "complete sentence",
        ),
        ("I'm sorry, but I can't assist with that request.", "refusal"),
        ("Here is the English translation of the sentence: Egypt will host meetings.", "refusal"),
        ("Foreign Minister Sameh Shoukry spoke.", "leaves most"),
        (
            "Foreign Minister Sameh Shoukry said Egypt will host 3 meetings in Cairo next year.",
            "2027",
        ),
        (
            "Foreign Minister Hassan Shoukry said Egypt will host 3 meetings in Cairo in January 2027.",
            "Hassan",
        ),
    ],
)
def test_a_translated_bullet_says_what_its_source_says(english: str, why: str) -> None:
    """A refusal or a note is no translation, a bullet that drops most of its source or
    one of its numbers is refused, and so is a name the source lacks."""
    got = _bullet_problem(english, SENTENCE, SENTENCE, target="en", article_lang="ar")
    if not why:
        assert got == ""
    else:
        assert got and (why in got or (why == "refusal" and "refusal" in got)), got


@pytest.mark.parametrize(
    ("english", "arabic"),
    [
        ("The Dr. Mohamed Abdel Aati spoke.", "شهد الدكتور محمد عبد العاطي"),
        ("The Dean Hossam El-Din Abdel Fattah spoke.", "الدكتور حسام الدين عبد الفتاح"),
        ("The Minister of Water Resources and Irrigation spoke.", "وزير الموارد المائية والري"),
        ("The Saudi Arabian princess spoke.", "الأميرة السعودية"),
        ("The Shiite militias fought.", "من الطائفة الشيعية"),
        ("The President Bashar al-Assad spoke.", "الرئيس بشار الأسد"),
    ],
)
def test_names_written_as_english_writes_them_are_matched(english: str, arabic: str) -> None:
    """Arabic names as English spells them (a doubled or weak h, Abdel for عبد ال, the
    article before a hyphen) and translated institution words are not invented names
    (the real 1.5B model's faithful bullets were refused for them)."""
    assert unmatched_names(english, arabic) == []


def test_a_name_the_source_lacks_is_still_refused() -> None:
    assert unmatched_names(
        "The Dr. Hassan Abdel Fattah spoke.", "الدكتور حسام الدين عبد الفتاح"
    ) == ["Hassan"]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Joe Biden (جو بايدن) spoke to Putin.", True),
        ("It said 'talks' would go on.", True),
        ("قال بايدن إن", False),  # Arabic outside parentheses
        ('A "quoted" word', False),  # llama.cpp would let it end the JSON string
        ("Joe (جو", False),
    ],
)
def test_english_fields_allow_arabic_only_inside_parentheses(text: str, ok: bool) -> None:
    assert bool(re.fullmatch(LATIN_TEXT.strip("^$"), text)) is ok


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("الناطق باسم الكرملين دميتري بيسكوف قال إن", False),  # seen on the real 1.5B model
        ("الناطق باسم الكرملين دميتري بيسكوف قال إن.", False),
        ("قال بيسكوف إن طريق المفاوضات وحده يحل المشكلات.", True),
        ("في عام 2020.", True),
        ('{"answer": "x', False),
    ],
)
def test_an_answer_cut_mid_sentence_is_not_whole(answer: str, ok: bool) -> None:
    assert whole(answer) is ok


def test_a_name_the_arabic_article_writes_in_latin_letters_is_its_own() -> None:
    """cnn-arabic-2013-syria writes "(CNN)" in Latin letters: the real 1.5B model's
    "Damascus, Syria (CNN)" was refused as a name the article lacks."""
    from bot.grounding.names import unmatched_names

    assert unmatched_names("Damascus, Syria (CNN) reported", "دمشق، سوريا (CNN) -- أكدت") == []
