"""The checks that let a small model's English through (issue 21.3): its name list,
the English field pattern, and the cut-sentence rule shared with answers."""

from __future__ import annotations

import re

import pytest

from bot.grounding.sentence import whole
from bot.summarize.schema import LATIN_TEXT
from bot.summarize.translate import checked_names

SOURCE = "قال الرئيس الأميركي جو بايدن إن البيت الأبيض سيعلن القرار في موسكو."


def test_a_name_list_keeps_matching_spellings_and_refuses_invented_ones() -> None:
    names = checked_names(
        [
            {"source": "جو بايدن", "target": "Obama"},  # the real 0.5B model's answer
            {"source": "موسكو", "target": "Moscow"},
            {"source": "البيت الأبيض", "target": "White House"},
            {"source": "بوتين", "target": "Putin"},  # not in the digest: ignored
        ],
        SOURCE,
    )
    assert names.good == {"موسكو": "Moscow", "البيت الأبيض": "White House"}
    assert names.refused == ["جو بايدن"]
    assert "جو بايدن = (جو بايدن)" in names.block()  # the retry keeps it in Arabic


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
