"""The article as the answer model reads it (numbered passages) and the answer check's
pure parts: inline citations, lenient ids, the verdict (pure functions)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.followups.answer import ModelAnswer
from bot.followups.grounding import judge, problem, split_citations
from bot.followups.numbered import GAP, NumberedPassages
from bot.followups.retrieval import question_query
from bot.grounding.evidence import number_sentences, numbered_text
from bot.llm.tokens import count_tokens
from tests.unit.test_retrieval import ANSWER_MARK, LONG_QUESTION, long_article, real_paragraphs

LINE = re.compile(r"^\[(\d+)\] (.*)$", re.M)
SEED = "\n\n".join(real_paragraphs("seed"))


def test_a_short_article_is_sent_whole_as_numbered_sentences() -> None:
    index = NumberedPassages(SEED, 350, count_tokens)
    body = index.body(question_query("متى بدأ الاتصال؟"), 10_000)
    assert body == numbered_text(number_sentences(SEED))
    assert GAP not in body


@given(st.integers(min_value=120, max_value=3000))
@settings(max_examples=20, deadline=None)
def test_selected_passages_keep_the_whole_articles_ids_and_the_budget(budget: int) -> None:
    text = long_article(20_000)
    index = NumberedPassages(text, 120, count_tokens)
    by_id = {s.id: s.text for s in number_sentences(text)}
    body = index.body(question_query(LONG_QUESTION), budget)
    assert count_tokens(body) <= budget + 4 * body.count(GAP)
    ids = [int(i) for i, _ in LINE.findall(body)]
    assert ids == sorted(ids) and ids
    for sid, sentence in LINE.findall(body):
        assert sentence in by_id[int(sid)]  # the sentence (or a piece of it) under its id
    lines = body.split("\n")
    assert GAP in lines  # a 20,000-character article is over every budget tried here


def test_gaps_mark_every_left_out_stretch() -> None:
    text = long_article()
    index = NumberedPassages(text, 200, count_tokens)
    chosen = index.select(question_query(LONG_QUESTION), 800)
    body = index.join(chosen)
    assert ANSWER_MARK in body
    kept = set(chosen)
    left_out = [i for i in range(len(index.texts)) if i not in kept]
    stretches = sum(1 for i in left_out if i - 1 not in left_out)
    assert stretches > 1 and body.split("\n").count(GAP) == stretches
    assert not body.startswith("\n") and not body.endswith("\n")


def test_a_giant_sentence_is_cut_and_every_piece_keeps_its_id() -> None:
    giant = " ".join(["كلمة"] * 600) + "."
    index = NumberedPassages(f"جملة أولى قصيرة هنا.\n\n{giant}", 100, count_tokens)
    labels = [t.split(" ", 1)[0] for text in index.texts for t in text.split("\n")]
    assert labels[0] == "[1]" and set(labels[1:]) == {"[2]"} and len(labels) > 3
    assert all(size <= 100 + 2 for size in index.sizes)


def test_inline_citations_are_removed_and_used_when_sources_is_empty() -> None:
    assert split_citations("Russia denies it [9].", []) == ("Russia denies it.", [9])
    assert split_citations("أ [3، 4] ب [5].", []) == ("أ ب.", [3, 4, 5])
    assert split_citations("No marks.", [2]) == ("No marks.", [2])
    assert split_citations("It says so [9].", [4]) == ("It says so.", [4])


def test_model_answer_ids_are_lenient() -> None:
    assert ModelAnswer.model_validate({"sources": 3}).sources == [3]
    assert ModelAnswer.model_validate({"sources": ["4", "[5]", "x", True, None]}).sources == [4, 5]


def test_the_verdict_names_what_is_wrong() -> None:
    sentences = number_sentences(SEED)
    flipped = judge("انتهى الاتصال الهاتفي الساعة 15,35.", [2], sentences, same_language=True)
    assert not flipped.ok and "opposite" in flipped.reason and flipped.ids == [2]
    assert "cites 2" in problem("انتهى الاتصال", flipped)
    added = judge("The call began at 16,35.", [2], sentences, same_language=False)
    assert not added.ok and "16,35" in added.reason
    uncited = judge("The call began at 15,35.", [], sentences, same_language=False)
    assert uncited.ok and uncited.recited and uncited.ids == [2]
    nowhere = judge("Talks start on 77 March.", [999], sentences, same_language=False)
    assert not nowhere.ok and nowhere.ids == [] and "the article" in nowhere.reason
