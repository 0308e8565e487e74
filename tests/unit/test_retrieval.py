"""BM25, passages, budgeted selection and the normalized quote check (pure functions).

The helpers at the top (`real_paragraphs`, `long_article`, `question_pairs`) build the
question–paragraph sets from the fixture articles; the integration tests and
`bench/followups.py` use them too.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.followups.retrieval import (
    BM25,
    match_form,
    question_query,
    quote_in_article,
    select_passages,
    split_passages,
    top_passages,
)
from bot.ingest.arabic import clean_text, split_sentences, tokens
from bot.llm.tokens import count_tokens

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# The seed paragraph that holds the date of the proposed NATO–Moscow meeting.
ANSWER_MARK = "12 كانون ثان/ يناير"
LONG_QUESTION = "متى سيعقد الاجتماع المقترح بين الحلف وموسكو؟"
_FILLER_EXCLUDE = ("لافروف", "الاجتماع", "المقترح", "يناير", "الحلف")


def real_paragraphs(name: str) -> list[str]:
    """Article paragraphs (120+ characters, no re-post boilerplate) of a fixture file."""
    path = {
        "seed": FIXTURES / "seed-article-ar.txt",
        "cnn": FIXTURES / "real" / "cnn-arabic-2013-syria.expected.txt",
    }[name]
    out = []
    for para in re.split(r"\n\s*\n", path.read_text("utf-8")):
        para = " ".join(para.split())
        if len(para) >= 120 and "@" not in para and para not in out:
            out.append(para)
    return out


def answer_paragraph() -> str:
    """The one seed paragraph that says when the NATO–Moscow meeting is proposed."""
    (para,) = [p for p in real_paragraphs("seed") if ANSWER_MARK in p]
    return para


def long_article(min_chars: int = 60_000, seed: int = 7) -> str:
    """A 60,000+ character article of real Arabic sentences; the answer paragraph once.

    Filler paragraphs are 3–6 sentences drawn (deterministically) from the seed and
    CNN fixture paragraphs, leaving out every sentence that shares the answer's key
    words, so `answer_paragraph()` is the only paragraph holding the answer. It sits
    at about two thirds of the article.
    """
    rng = random.Random(seed)
    answer = answer_paragraph()
    pool = [
        s
        for p in real_paragraphs("seed") + real_paragraphs("cnn")
        if p != answer
        for s in split_sentences(p)
        if len(s) > 30 and not any(w in s for w in _FILLER_EXCLUDE)
    ]
    filler: list[str] = []
    while sum(len(p) + 2 for p in filler) + len(answer) < min_chars:
        filler.append(" ".join(rng.sample(pool, rng.randint(3, 6))))
    at = len(filler) * 2 // 3
    return "\n\n".join([*filler[:at], answer, *filler[at:]])


def question_pairs(paragraphs: list[str], window: int = 4) -> list[tuple[str, str]]:
    """(question, phrase) pairs: one question per paragraph, from a distinctive phrase.

    The phrase is the `window`-word span of the paragraph whose normalized words are
    rarest across `paragraphs` (highest summed BM25 idf); the question asks what the
    article says about it. A passage "holds the answer" when it contains the phrase.
    """
    bm25 = BM25([tokens(p) for p in paragraphs])
    pairs: list[tuple[str, str]] = []
    for para in paragraphs:
        words = para.split()
        if len(words) < window + 4:
            continue
        best = max(
            range(len(words) - window + 1),
            key=lambda i: sum(bm25.idf(t) for t in tokens(" ".join(words[i : i + window]))),
        )
        phrase = " ".join(words[best : best + window]).strip('،,.:؛“”"()')
        pairs.append((f"ماذا يقول المقال عن {phrase}؟", phrase))
    return pairs


def hit_rates(passages: list[str], pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(hit@1, hit@3): the share of questions whose top 1 / top 3 passages hold the phrase."""
    hit1 = hit3 = 0
    for question, phrase in pairs:
        top = top_passages(passages, question_query(question), 3)
        holds = [match_form(phrase) in match_form(p) for p in top]
        hit1 += holds[0]
        hit3 += any(holds)
    return hit1 / len(pairs), hit3 / len(pairs)


# --- BM25 ---------------------------------------------------------------------------


def test_bm25_prefers_the_document_with_the_rare_word() -> None:
    docs = [["روسيا", "اوكرانيا"], ["روسيا", "ناتو", "اجتماع"], ["روسيا"]]
    bm25 = BM25(docs)
    assert bm25.rank(["اجتماع"])[0] == 1
    assert bm25.idf("اجتماع") > bm25.idf("روسيا")
    assert bm25.scores(["غائب"]) == [0.0, 0.0, 0.0]


def test_bm25_length_normalization_favours_the_shorter_match() -> None:
    bm25 = BM25([["ناتو"] + ["حشو"] * 50, ["ناتو", "حشو"]])
    assert bm25.rank(["ناتو"]) == [1, 0]


def test_bm25_weights_scale_scores() -> None:
    bm25 = BM25([["a", "b"], ["b", "c"]])
    single = bm25.scores({"a": 1.0})[0]
    assert bm25.scores({"a": 2.0})[0] == pytest.approx(2 * single)


@given(
    st.lists(st.lists(st.sampled_from("abcdefg"), max_size=8), min_size=1, max_size=8),
    st.lists(st.sampled_from("abcdefgh"), max_size=4),
)
@settings(max_examples=80, deadline=None)
def test_bm25_scores_are_nonnegative_and_rank_is_a_permutation(
    docs: list[list[str]], query: list[str]
) -> None:
    bm25 = BM25(docs)
    scores = bm25.scores(query)
    assert all(s >= 0 for s in scores)
    order = bm25.rank(query)
    assert sorted(order) == list(range(len(docs)))
    assert [scores[i] for i in order] == sorted(scores, reverse=True)
    for i, doc in enumerate(docs):
        if not set(query) & set(doc):
            assert scores[i] == 0.0


def test_bm25_matches_normalized_arabic_forms() -> None:
    paragraphs = ["عقد الاجتماع في المدينة", "وأعلنت الحكومة إجراءات جديدة", "زار الرئيس مصر"]
    query = question_query("ما الإجراءات التي أعلنتها الحكومه؟")
    assert top_passages(paragraphs, query, 1) == ["وأعلنت الحكومة إجراءات جديدة"]


# --- passages and selection -----------------------------------------------------------


def test_short_paragraphs_stay_whole_and_in_order() -> None:
    paras = real_paragraphs("seed")
    assert split_passages("\n\n".join(paras), 10_000, count_tokens) == paras


def test_long_paragraph_becomes_sentence_windows_within_the_limit() -> None:
    para = " ".join(real_paragraphs("cnn"))  # one ~3,000-character paragraph
    windows = split_passages(para, 120, count_tokens)
    assert len(windows) > 3
    assert all(count_tokens(w) <= 120 for w in windows)
    # nothing lost, order kept (sentences come back display-cleaned: no tatweel)
    assert " ".join(windows).split() == clean_text(para).split()


def test_a_giant_sentence_is_cut_between_words() -> None:
    sentence = " ".join(["كلمة"] * 500)
    pieces = split_passages(sentence, 60, count_tokens)
    assert all(count_tokens(p) <= 60 for p in pieces)
    assert " ".join(pieces).split() == sentence.split()


@given(st.integers(min_value=50, max_value=1500))
@settings(max_examples=25, deadline=None)
def test_selection_respects_the_budget_and_article_order(budget: int) -> None:
    passages = split_passages(long_article(20_000), 120, count_tokens)
    chosen = select_passages(passages, question_query(LONG_QUESTION), budget, count_tokens)
    assert chosen == sorted(chosen)
    assert sum(count_tokens(passages[i]) for i in chosen) <= budget


def test_selection_finds_the_answer_paragraph_in_a_60k_article() -> None:
    text = long_article()
    assert len(text) >= 60_000
    assert text.count(ANSWER_MARK) == 1
    passages = split_passages(text, 350, count_tokens)
    chosen = select_passages(passages, question_query(LONG_QUESTION), 1500, count_tokens)
    assert any(ANSWER_MARK in passages[i] for i in chosen)
    assert top_passages(passages, question_query(LONG_QUESTION), 1)[0] == answer_paragraph()


def test_retrieval_hit_rate_on_fixture_question_pairs() -> None:
    for name in ("seed", "cnn"):
        paras = real_paragraphs(name)
        hit1, hit3 = hit_rates(paras, question_pairs(paras))
        assert hit1 >= 0.8, name
        assert hit3 == 1.0, name


# --- the quote check -------------------------------------------------------------------

SEED_SENTENCE = (
    "وتنفي روسيا التخطيط لمهاجمة أوكرانيا وتقول إن لها الحق في تحريك قواتها على أراضيها كما تشاء."
)


def test_quote_found_despite_diacritics_letter_forms_and_punctuation() -> None:
    article = "\n\n".join(real_paragraphs("seed"))
    assert quote_in_article(SEED_SENTENCE, article)
    variant = "وَتَنفي روسيا التخطيط لمهاجمه اوكرانيا، وتقول ان لها الحق في تحريك قواتها على اراضيها كما تشاء"
    assert quote_in_article(variant, article)
    assert quote_in_article("«" + SEED_SENTENCE + "»", article)


def test_quote_with_a_changed_word_or_too_short_is_rejected() -> None:
    article = "\n\n".join(real_paragraphs("seed"))
    assert not quote_in_article(SEED_SENTENCE.replace("روسيا", "الصين"), article)
    assert not quote_in_article("روسيا", article)
    assert not quote_in_article("", article)
    # a fragment of a word is not a word
    assert not quote_in_article("ي التخطيط لمهاجمة", article)


_ARABIC_WORD = st.text(alphabet="ابتثجحخدذرسشصضطظعغفقكلمنهوي", min_size=2, max_size=7)
_TASHKEEL = st.sampled_from(["", "\u064e", "\u064f", "\u0650", "\u0651", "\u0652"])


@given(st.lists(_ARABIC_WORD, min_size=6, max_size=20), st.data())
@settings(max_examples=80, deadline=None)
def test_any_span_with_added_tashkeel_is_found(words: list[str], data: st.DataObject) -> None:
    article = " ".join(words) + "."
    start = data.draw(st.integers(0, len(words) - 3))
    end = data.draw(st.integers(start + 3, len(words)))
    span = [w[0] + data.draw(_TASHKEEL) + w[1:] for w in words[start:end]]
    assert quote_in_article("، ".join(span), article)


@given(st.text(max_size=80))
@settings(max_examples=100, deadline=None)
def test_match_form_is_idempotent_and_has_no_punctuation(text: str) -> None:
    once = match_form(text)
    assert match_form(once) == once
    assert not re.search(r"[^\w\s]", once)
