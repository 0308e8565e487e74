"""Direction marks: Arabic lines read right to left, English lines left to right.

Telegram clients take a paragraph's direction from its first strong character (Unicode
bidi rule P2, which skips isolated runs). These tests compute that character for the
rendered line, and check that Latin phrases inside Arabic are isolated in order.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.render import LRI, LRM, PDI, RLM, escape, rtl_line, rtl_text, strip_marks
from tests.fakes.botapi import parse_html

ARABIC_WORDS = ["قال", "الرئيس", "في", "موسكو", "إنّ", "المحادثات", "ستُعقد", "غدًا"]
LATIN_WORDS = ["Sergey", "Lavrov", "NATO", "GPT-4", "Reuters", "iPhone", "CNN"]
NUMBERS = ["2024", "15", "3.5%", "10-20", "٢٠٢٤", "1/11/2026"]
MARKUP = ["<b>", "&", ">", '"', "(", ")", "،", "؟", ":", "-"]

words = st.lists(
    st.sampled_from(ARABIC_WORDS + LATIN_WORDS + NUMBERS + MARKUP), min_size=1, max_size=14
)


def first_strong(text: str) -> str | None:
    """Bidi rule P2: the first L, R or AL character, skipping isolated runs."""
    depth = 0
    for ch in text:
        if ch in "\u2066\u2067\u2068":
            depth += 1
        elif ch == PDI:
            depth = max(0, depth - 1)
        elif depth == 0:
            kind = unicodedata.bidirectional(ch)
            if kind in ("L", "R", "AL"):
                return "rtl" if kind in ("R", "AL") else "ltr"
    return None


@pytest.mark.parametrize(
    ("line", "lang", "direction"),
    [
        ("Sergey Lavrov قال إن المحادثات ستعقد غدًا", "ar", "rtl"),
        ("2024 Olympics تنطلق في باريس", "ar", "rtl"),
        ("15 قتيلًا في هجوم", "ar", "rtl"),
        ("قال الرئيس إن المحادثات ستعقد", "ar", "rtl"),
        ("الجزيرة reported that talks will start", "en", "ltr"),
        ("2026 elections in مصر", "en", "ltr"),
        ("Only Latin text in an Arabic digest", "ar", "ltr"),
        ("نص عربي فقط", "en", "rtl"),
    ],
)
def test_line_direction_from_first_strong_character(line: str, lang: str, direction: str) -> None:
    out = rtl_line(line, lang)
    assert first_strong(out) == direction
    assert strip_marks(out) == line


def test_latin_phrases_inside_arabic_are_isolated_in_order() -> None:
    out = rtl_line("قال Sergey Lavrov إن GPT-4 Turbo أفضل من 2024", "ar")
    assert out.startswith(RLM)
    assert f"{LRI}Sergey Lavrov{PDI}" in out
    assert f"{LRI}GPT-4 Turbo{PDI}" in out
    assert f"{LRI}2024" not in out  # a lone number needs no isolate


def test_commands_mentions_and_links_are_never_split() -> None:
    line = "أرسل /summarize en مع @digest_bot أو https://example.com/a b/c"
    out = rtl_line(line, "ar")
    assert "/summarize en" in out and "@digest_bot" in out
    assert "https://example.com/a b/c" in out


def test_english_line_starting_with_arabic_gets_lrm() -> None:
    assert rtl_line("القاهرة is the capital", "en") == LRM + "القاهرة is the capital"


def test_blank_lines_stay_blank() -> None:
    assert rtl_line("", "ar") == ""
    assert rtl_text("سطر\n\nline", "ar") == f"{RLM}سطر\n\n{LRM}line"


@given(words, st.sampled_from(["ar", "en"]))
def test_marks_only_insert_never_reorder(parts: list[str], lang: str) -> None:
    line = " ".join(parts)
    out = rtl_line(line, lang)
    assert strip_marks(out) == line
    assert rtl_line(out, lang) == out  # idempotent
    assert out.count(LRI) == out.count(PDI)


@given(words)
def test_arabic_lines_read_rtl_whatever_they_start_with(parts: list[str]) -> None:
    line = " ".join(parts)
    out = rtl_line(line, "ar")
    if any(w in parts for w in ARABIC_WORDS):
        assert first_strong(out) == "rtl"


@given(words)
def test_english_lines_read_ltr_whatever_they_start_with(parts: list[str]) -> None:
    line = " ".join(parts)
    out = rtl_line(line, "en")
    if any(w[0].isascii() and w[0].isalpha() for w in parts):
        assert first_strong(out) == "ltr"


@given(words, st.sampled_from(["ar", "en"]))
def test_marked_lines_stay_valid_telegram_html(parts: list[str], lang: str) -> None:
    line = " ".join(parts)
    assert parse_html(escape(rtl_line(line, lang))) == rtl_line(line, lang)
