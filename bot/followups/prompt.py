"""The answer prompt: the article's prefix (`bot/llm/article.py`: the common system
message, then the article as numbered sentences, or its best passages, in a user
message; for a long map-reduced article, the notes of its digest with its best passages
in the task), then the task: `prompts/answer.md` with the history and the question as
delimited data, within the input token budget. Pure; no I/O but reading the prompt
files."""

from __future__ import annotations

import functools

from bot.domain import Article, Lang
from bot.followups.context import Turn
from bot.followups.numbered import NumberedPassages
from bot.followups.retrieval import PassageIndex, question_query
from bot.llm import article as prefix
from bot.llm.client import Message
from bot.llm.defuse import defuse
from bot.llm.prompts import load_prompt
from bot.llm.tokens import count_tokens

PROMPT_NAME = "answer"
PASSAGES_PROMPT_NAME = "answer_passages"
ARTICLE_SHARE = 0.6  # at most this share of LLM_MAX_INPUT_TOKENS goes to passages
# an article whose prefix (system, title, numbered sentences) fits this share of
# LLM_MAX_INPUT_TOKENS is sent whole with every question (the digest's prefix, read
# from the server's cache); the task and the history get the rest, old turns dropped
WHOLE_SHARE = 0.75
# a long article's notes (its digest's reduce call read them) are the prefix when they
# leave the passages at least this share of LLM_MAX_INPUT_TOKENS (else passages alone)
NOTES_MIN_PASSAGES = 0.25
FRAMING_TOKENS = 40  # chat-format overhead per request (roles, separators), rounded up
LANG_NAMES: dict[str, str] = {"ar": "Arabic", "en": "English"}


def build_prompt(
    article: Article,
    question: str,
    lang: Lang,
    history: list[Turn],
    query: dict[str, float] | None = None,
    *,
    max_input_tokens: int,
    notes: str | None = None,
) -> list[Message]:
    """Return the messages for one question, within `max_input_tokens`.

    They start with the article's prefix, the same bytes as the digest's request
    (`bot/llm/article.py`): the common system message, then the article as numbered
    sentences (`[id] text`, ids over the whole article) with its title line, whenever
    the whole of it fits what the task leaves of the input budget, so a server's
    prefix cache answers from the article it read for the digest. Only a longer
    article is cut to the passages BM25 ranks best for the question (within
    ARTICLE_SHARE of the budget, in article order, gaps marked "[…]"); that prefix
    then changes with the question, unless the article was map-reduced and its
    `notes` are kept: the prefix is then the reduce call's (the system message and the
    notes, `article.notes_messages`), the same for every question, and the passages go
    in the task (`prompts/answer_passages.md`), when the notes leave them at least
    NOTES_MIN_PASSAGES of the budget. The task (`prompts/answer.md`, the history and
    the question as delimited data) follows in its own user message. Old turns are
    dropped first if the history alone crowds out the article. Whether the article goes
    whole depends on the article alone (`fits_whole`), so every question about it gets
    the same prefix.
    """
    max_in = max_input_tokens
    system = prefix.system_message()["content"]
    turns = list(history)
    head = prefix.title_line(article)
    share = int(max_in * ARTICLE_SHARE)
    index = numbered_passages(article.text, passage_size(share))
    whole_prefix = question_prefix(article, max_input_tokens=max_in)
    if whole_prefix is not None:
        whole = _prefix_tokens(article, index)
        while turns and whole + count_tokens(_task(lang, turns, question)) > max_in:
            turns.pop(0)
        if whole + count_tokens(_task(lang, turns, question)) <= max_in:
            return prefix.with_task(whole_prefix, _task(lang, turns, question))
    if notes:
        on_notes = _on_notes(article, question, lang, turns, query, notes, max_in)
        if on_notes is not None:
            return on_notes
    while True:
        fixed = (
            count_tokens(system)
            + count_tokens(head)
            + count_tokens(_task(lang, turns, question))
            + FRAMING_TOKENS
        )
        if not turns or fixed <= max_in * (1 - ARTICLE_SHARE):
            break
        turns.pop(0)
    task = _task(lang, turns, question)
    budget = max(0, min(share, max_in - fixed))
    body = index.body(query or question_query(question), budget)
    return prefix.with_task(prefix.messages(head + body), task)


def _on_notes(
    article: Article,
    question: str,
    lang: Lang,
    history: list[Turn],
    query: dict[str, float] | None,
    notes: str,
    max_in: int,
) -> list[Message] | None:
    """The messages for a question about a map-reduced article: the notes' prefix, then
    the task with the passages retrieval picks; None when the notes leave the passages
    less than NOTES_MIN_PASSAGES of the budget (old turns dropped first)."""
    head = prefix.title_line(article)
    on = prefix.notes_messages(notes)
    base = sum(count_tokens(m["content"]) for m in on) + count_tokens(head) + FRAMING_TOKENS
    turns = list(history)
    share = int(max_in * ARTICLE_SHARE)
    while True:
        room = min(share, max_in - base - count_tokens(_task(lang, turns, question, "")))
        if room >= max_in * NOTES_MIN_PASSAGES or not turns:
            break
        turns.pop(0)
    if room < max_in * NOTES_MIN_PASSAGES:
        return None
    index = numbered_passages(article.text, passage_size(share))
    body = index.body(query or question_query(question), room)
    return prefix.with_task(on, _task(lang, turns, question, head + body))


def question_prefix(article: Article, *, max_input_tokens: int) -> list[Message] | None:
    """The messages every question about `article` starts with when the article is sent
    whole (`fits_whole`): the common system message and the article's numbered
    sentences, byte for byte what `build_prompt` sends. None when questions get the
    passages retrieval picks (no one prefix). Other requests about the article (a
    briefing's item about it) start with these messages too, so the questions after
    them are read from the server's prefix cache."""
    if not fits_whole(article, max_input_tokens=max_input_tokens):
        return None
    index = numbered_passages(article.text, passage_size(int(max_input_tokens * ARTICLE_SHARE)))
    return prefix.article_messages(article, index.whole)


def fits_whole(article: Article, *, max_input_tokens: int) -> bool:
    """True when every question about `article` is sent the whole article (its prefix
    within WHOLE_SHARE of the input budget); else the passages retrieval picks."""
    share = int(max_input_tokens * ARTICLE_SHARE)
    index = numbered_passages(article.text, passage_size(share))
    return _prefix_tokens(article, index) <= max_input_tokens * WHOLE_SHARE


def _prefix_tokens(article: Article, index: NumberedPassages) -> int:
    """Tokens of the article's prefix: the system message, title line and numbered
    sentences, with the chat format's overhead."""
    system = prefix.system_message()["content"]
    head = prefix.title_line(article)
    return count_tokens(system) + count_tokens(head) + index.total_tokens + FRAMING_TOKENS


@functools.lru_cache(maxsize=16)
def passage_index(text: str, max_tokens: int) -> PassageIndex:
    """The PassageIndex of an article text, kept for the 16 most recent articles.

    Cutting and tokenizing a 60,000-character article takes ~0.3 s; follow-up
    questions come in bursts about the same article, so it is done once.
    """
    return PassageIndex(text, max_tokens, count_tokens)


@functools.lru_cache(maxsize=16)
def numbered_passages(text: str, max_tokens: int) -> NumberedPassages:
    """The article as numbered passages (what the model reads), kept for the 16 most
    recent articles, like `passage_index`."""
    return NumberedPassages(text, max_tokens, count_tokens)


def passage_size(budget: int) -> int:
    """Largest passage (tokens): a quarter of the budget, between 50 and 350."""
    return max(50, min(350, budget // 4))


def defuse_tags(text: str) -> str:
    """Neutralize our own delimiter tags inside data so data cannot close a block
    (the one shared defuser, bot/llm/defuse.py)."""
    return defuse(text)


def _task(lang: Lang, history: list[Turn], question: str, passages: str | None = None) -> str:
    """The task message: the answer rules, then (after a long article's notes) the
    article's `passages` for the question, then the history, the question and the
    answer's language as delimited data."""
    lines = [load_prompt(PROMPT_NAME).text.strip(), ""]
    if passages is not None:
        lines += [load_prompt(PASSAGES_PROMPT_NAME).text.strip(), "", "<passages>"]
        lines += [defuse(passages, "passages"), "</passages>", ""]
    lines += ["<history>"]
    for turn in history:
        lines += [f"Q: {defuse_tags(turn.question)}", f"A: {defuse_tags(turn.answer)}", ""]
    lines += ["</history>", "", "<question>", defuse_tags(question), "</question>", ""]
    lines += [f"<answer_language>{LANG_NAMES[lang]}</answer_language>"]
    return "\n".join(lines)
