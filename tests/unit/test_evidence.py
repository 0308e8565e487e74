"""Evidence anchoring: numbered sentences, and each claim checked against what it cites."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.grounding import evidence

BEGAN = "أن الاتصال “بدأ الساعة 15,35” (20,35 ت غ)."
ENDED_ANNOUNCED = (
    "أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين الرئيس الأميركي جو بايدن ونظيره الروسي."
)
ARTICLE = f"{ENDED_ANNOUNCED} وقال مسؤول إن الاتصال جرى بطلب روسي.\n\n{BEGAN}"


def test_sentences_are_numbered_by_paragraph() -> None:
    sentences = evidence.number_sentences(ARTICLE)
    assert [s.id for s in sentences] == [1, 2, 3]
    assert [s.paragraph for s in sentences] == [0, 0, 1]
    text = evidence.numbered_text(sentences)
    assert text.startswith("[1] أعلن") and "\n\n[3] " in text


def test_the_ended_for_began_flip_is_caught_even_with_a_second_sentence() -> None:
    """The 1.5B model wrote 'the call ended at 15:35' where the article says it began."""
    claim = "انتهى الاتصال الهاتفي الساعة 15,35."
    assert not evidence.check_claim(claim, [BEGAN], same_language=True).ok
    # joining the "ended" sentence cannot rescue it: the sentence with 15,35 says began
    assert not evidence.check_claim(claim, [ENDED_ANNOUNCED, BEGAN], same_language=True).ok
    sentences = evidence.number_sentences(ARTICLE)
    assert evidence.anchor(claim, sentences, same_language=True) == []


def test_a_claim_nowhere_in_the_article_is_unsupported() -> None:
    check = evidence.check_claim(
        "ودعت المعارضة إلى وقف إطلاق النار.", [ENDED_ANNOUNCED, BEGAN], same_language=True
    )
    assert not check.ok and "do not say" in check.reason


def test_a_paraphrase_of_the_cited_sentence_is_supported() -> None:
    claim = "أعلن البيت الأبيض أن الاتصال الهاتفي بين بايدن ونظيره الروسي انتهى."
    assert evidence.check_claim(claim, [ENDED_ANNOUNCED], same_language=True).ok


def test_a_wrong_citation_is_re_anchored() -> None:
    sentences = evidence.number_sentences(ARTICLE)
    claim = "بدأ الاتصال الساعة ١٥٫٣٥."
    assert not evidence.check_claim(claim, [sentences[0].text], same_language=True).ok
    assert evidence.anchor(claim, sentences, same_language=True) == [3]


@pytest.mark.parametrize(
    ("claim", "ok"),
    [
        ("The call began at 15:35 (20:35 GMT).", True),
        ("The call began at 16:35.", False),
        ("The White House (البيت الأبيض) announced the end of the call.", True),
        ("Joe Biden (جون بايدن) spoke.", False),  # the article spells it جو بايدن
    ],
)
def test_other_language_claims_are_checked_on_numbers_and_names(claim: str, ok: bool) -> None:
    assert evidence.check_claim(claim, [ENDED_ANNOUNCED, BEGAN], same_language=False).ok is ok


@given(st.lists(st.integers(min_value=-3, max_value=10)))
def test_valid_ids_keep_known_ids_once_in_order(ids: list[int]) -> None:
    sentences = evidence.number_sentences(ARTICLE)
    got = evidence.valid_ids(ids, sentences)
    assert all(1 <= i <= 3 for i in got) and len(got) == len(set(got))
    assert got == [i for n, i in enumerate(ids) if 1 <= i <= 3 and i not in ids[:n]]
