"""Arabic normalization, tokens and sentence splitting (pure functions)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.arabic import (
    arabic_ratio,
    clean_text,
    detect_language,
    normalize_for_match,
    split_sentences,
    to_ascii_digits,
    tokens,
)

INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad\u0640]")

# Text drawn from Arabic letters and marks, Latin, digits, whitespace and invisible controls.
arabicish = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(
            ["\n", "\t", " ", "\u200b", "\u200f", "\u202b", "\u2067", "\ufeff", "\u00ad", "\r"]
        ),
    ),
    max_size=200,
)


@settings(deadline=None)  # the 2-core CI machine is shared; no timing asserts
@given(st.one_of(arabicish, st.text(max_size=100)))
def test_clean_text_is_idempotent_and_removes_invisible(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    assert not INVISIBLE.search(once)
    assert "\n\n\n" not in once
    assert all(line == line.strip() for line in once.split("\n"))
    assert "  " not in once


@settings(deadline=None)  # the 2-core CI machine is shared; no timing asserts
@given(st.one_of(arabicish, st.text(max_size=100)))
def test_normalize_for_match_is_idempotent(text: str) -> None:
    once = normalize_for_match(text)
    assert normalize_for_match(once) == once
    assert not INVISIBLE.search(once)
    assert not re.search("[\u064b-\u0652\u0670أإآٱىة٠-٩۰-۹]", once)


@settings(deadline=None)  # the 2-core CI machine is shared; no timing asserts
@given(st.lists(st.integers(0, 9), max_size=12))
def test_arabic_indic_and_persian_digits_map_to_ascii(digits: list[int]) -> None:
    ascii_ = "".join(str(d) for d in digits)
    arabic = "".join(chr(0x0660 + d) for d in digits)
    persian = "".join(chr(0x06F0 + d) for d in digits)
    assert to_ascii_digits(arabic) == ascii_
    assert to_ascii_digits(persian) == ascii_


def test_clean_text_keeps_letters_and_diacritics_but_drops_tatweel() -> None:
    assert clean_text("مـــرحباً\u200b  بكم\t\tجميعاً") == "مرحباً بكم جميعاً"
    assert clean_text("فقرة  أولى\n\n\n\n  فقرة ثانية  \n") == "فقرة أولى\n\nفقرة ثانية"


def test_normalize_for_match_unifies_letter_forms() -> None:
    assert normalize_for_match("أحمد إلى آخر مدرسةٌ مسؤول") == "احمد الي اخر مدرسه مسوول"
    assert normalize_for_match("٣٫٥ مليون و١٬٢٠٠ شخص") == "3.5 مليون و1,200 شخص"
    assert normalize_for_match("Hello\n\nWORLD") == "hello world"


def test_tokens_strip_the_definite_article_and_short_tokens() -> None:
    assert tokens("البيت الأبيض والرئيس بالقرب للبلدين في و 2021") == [
        "بيت",
        "ابيض",
        "رييس",
        "قرب",
        "بلدين",
        "في",
        "2021",
    ]
    # the article is kept when fewer than two letters would remain
    assert tokens("الي") == ["الي"]
    assert tokens("بدأ الساعة 15,35") == ["بدا", "ساعه", "15,35"]


def test_arabic_ratio_and_language() -> None:
    assert arabic_ratio("") == 0.0
    assert arabic_ratio("مرحبا") == 1.0
    assert arabic_ratio("abc") == 0.0
    assert detect_language("أعلن البيت الأبيض انتهاء الاتصال with Biden") == "ar"
    assert detect_language("The White House said on Friday") == "en"


def test_seed_sentences(seed_text: str) -> None:
    sentences = split_sentences(seed_text)
    # missing space after a period still splits
    assert any(s.endswith("في أوكرانيا.") and s.startswith("حيث بدأ") for s in sentences)
    assert any(s.startswith("وأفاد مسؤول") for s in sentences)
    # numbers with separators are never split
    assert any("15,35" in s and "20,35" in s for s in sentences)
    # a long clause chain splits at the Arabic comma, a short list does not
    assert (
        "ويريد بايدن، بحسب البيت الأبيض، أن يقترح “مسارا دبلوماسيا” لتجنب تصعيد عسكري في أوكرانيا."
        in sentences
    )
    assert "info@elaiounsidimellouk.com" in " ".join(sentences)
    assert all(s.strip() == s and s for s in sentences)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("هل جاء؟ نعم جاء! ثم ذهب.", ["هل جاء؟", "نعم جاء!", "ثم ذهب."]),
        ("بلغ النمو ٣٫٥ في المئة و3.5 مرة.", ["بلغ النمو ٣٫٥ في المئة و3.5 مرة."]),
        (
            "زار https://example.com/a.b اليوم. ثم عاد",
            ["زار https://example.com/a.b اليوم.", "ثم عاد"],
        ),
        (
            "Dr. Smith met U.S. officials. They agreed.",
            ["Dr. Smith met U.S. officials.", "They agreed."],
        ),
        ("The answer was no. He left.", ["The answer was no.", "He left."]),
        # the Arabic comma splits only between two long clauses (>= 40 characters each)
        (
            "أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين الرئيسين، "
            "حيث بدأ الاتصال النادر على وقع التوتر العسكري في المنطقة",
            [
                "أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين الرئيسين،",
                "حيث بدأ الاتصال النادر على وقع التوتر العسكري في المنطقة",
            ],
        ),
        ("زار الوزير دمشق، وبيروت، وعمان", ["زار الوزير دمشق، وبيروت، وعمان"]),
        (
            "بلغت النسبة ٣،٥ في المئة في الربع الأول من العام الجاري، وفق بيانات رسمية صادرة اليوم عن الوزارة في العاصمة",
            [
                "بلغت النسبة ٣،٥ في المئة في الربع الأول من العام الجاري،",
                "وفق بيانات رسمية صادرة اليوم عن الوزارة في العاصمة",
            ],
        ),
        ("قال د. أحمد إن الوضع هادئ؛ ثم غادر", ["قال د. أحمد إن الوضع هادئ؛", "ثم غادر"]),
        ("قال: “انتهى.” ثم غادر", ["قال: “انتهى.”", "ثم غادر"]),
        ("سطر أول\nسطر ثان", ["سطر أول", "سطر ثان"]),
    ],
)
def test_split_sentences_cases(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@settings(deadline=None)  # the 2-core CI machine is shared; no timing asserts
@given(arabicish)
def test_split_sentences_loses_no_words(text: str) -> None:
    def alnum(s: str) -> str:
        return "".join(ch for ch in s if ch.isalnum())

    sentences = split_sentences(text)
    assert alnum("".join(sentences)) == alnum(clean_text(text))
    assert all(s == s.strip() and s for s in sentences)


def test_text_cut_inside_a_letter_is_cleaned_not_crashed_on() -> None:
    """Pasted text cut inside a two-byte Arabic letter (read with surrogateescape, as
    the console reads stdin) carried a lone surrogate that crashed the article's hash:
    the user got "something went wrong" instead of a digest."""
    cut = "قال الرئيس".encode()[:-1].decode("utf-8", "surrogateescape")
    cleaned = clean_text(f"{cut} إن الاجتماع عُقد")
    assert cleaned == "قال الرئي إن الاجتماع عُقد"
    cleaned.encode("utf-8")  # encodable: it can be hashed, stored and sent
