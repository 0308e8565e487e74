"""The answer prompt: the article as numbered sentences (or its best passages), the
history and the question as delimited data in the user message, within the input token
budget. Pure; no I/O but reading the prompt file."""

from __future__ import annotations

import functools

from bot.domain import Article, Lang
from bot.followups.context import Turn
from bot.followups.numbered import NumberedPassages
from bot.followups.retrieval import PassageIndex, question_query
from bot.llm.defuse import defuse
from bot.llm.prompts import load_prompt
from bot.llm.tokens import count_tokens

PROMPT_NAME = "answer"
ARTICLE_SHARE = 0.6  # at most this share of LLM_MAX_INPUT_TOKENS goes to article text
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
) -> tuple[str, str]:
    """Return (system, user) messages for one question, within `max_input_tokens`.

    The system message is `prompts/answer.md` alone; the article parts, the history
    and the question go into the user message as delimited data. The article is sent
    as numbered sentences (`[id] text`, ids over the whole article). When it is over
    the answer budget (measured on the numbered text), only the passages BM25 ranks
    best for the question are kept (in article order, gaps marked "[…]"). Old turns
    are dropped first if the history alone crowds out the article.
    """
    max_in = max_input_tokens
    system = load_prompt(PROMPT_NAME).text.strip()
    turns = list(history)
    while True:
        fixed = (
            count_tokens(system)
            + count_tokens(_user_message(lang, "", turns, question))
            + FRAMING_TOKENS
        )
        if not turns or fixed <= max_in * (1 - ARTICLE_SHARE):
            break
        turns.pop(0)
    budget = max(0, min(int(max_in * ARTICLE_SHARE), max_in - fixed))
    index = numbered_passages(article.text, passage_size(int(max_in * ARTICLE_SHARE)))
    body = index.body(query or question_query(question), budget)
    return system, _user_message(lang, body, turns, question)


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


def _user_message(lang: Lang, body: str, history: list[Turn], question: str) -> str:
    lines = [f"<answer_language>{LANG_NAMES[lang]}</answer_language>", "", "<article>"]
    lines += [defuse_tags(body), "</article>", "", "<history>"]
    for turn in history:
        lines += [f"Q: {defuse_tags(turn.question)}", f"A: {defuse_tags(turn.answer)}", ""]
    lines += ["</history>", "", "<question>", defuse_tags(question), "</question>"]
    return "\n".join(lines)
