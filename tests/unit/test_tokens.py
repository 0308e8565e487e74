"""Token counting: the shipped o200k encoding, offline, fast enough for every request."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.llm.tokens import count_tokens, estimate_tokens

SEED = (Path(__file__).parents[1] / "fixtures" / "seed-article-ar.txt").read_text("utf-8")


def test_counts_arabic_with_the_real_encoding() -> None:
    # o200k: about 3.1 Arabic characters per token
    n = count_tokens(SEED)
    assert 0.2 * len(SEED) < n < 0.5 * len(SEED)
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2


def test_the_estimate_does_not_undercount_arabic() -> None:
    assert estimate_tokens(SEED) >= count_tokens(SEED)


def test_fast_enough_for_a_long_article() -> None:
    count_tokens("warm up")
    text = SEED * 20  # ~120 KB
    start = time.perf_counter()
    count_tokens(text)
    assert time.perf_counter() - start < 1.0


@given(st.text(max_size=300))
def test_estimate_is_monotone_in_appending(text: str) -> None:
    assert estimate_tokens(text + "كلمة") >= estimate_tokens(text)


_WORDS = st.sampled_from(["أعلن", "البيت", "الأبيض", "انتهاء", "call", "2021", "،", "."])
_PARAGRAPHS = st.lists(
    st.lists(_WORDS, min_size=1, max_size=120).map(" ".join), min_size=1, max_size=8
).map("\n\n".join)


@settings(max_examples=40, deadline=None)
@given(_PARAGRAPHS, st.integers(min_value=20, max_value=200))
@example(("أعلن " * 18) + ". ،", 20)  # a trailing lone comma was once dropped
def test_split_to_budget_keeps_every_word_and_fits(text: str, budget: int) -> None:
    from bot.llm.chunks import split_to_budget

    parts = split_to_budget(text, budget)
    assert all(count_tokens(p) <= budget for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_split_to_budget_cuts_at_paragraphs_first() -> None:
    from bot.llm.chunks import split_to_budget

    paras = [p.strip() for p in SEED.split("\n\n") if p.strip()]
    parts = split_to_budget("\n\n".join(paras), 400)
    assert len(parts) > 1
    for part in parts:
        for para in part.split("\n\n"):
            assert para.strip() in paras  # no paragraph was cut (each fits the budget)
