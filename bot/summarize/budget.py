"""Holding a digest's worst-case cost from the user's daily budget before the LLM work.

What is held first is the digest written directly (its translation included, for a
digest in the other language than the article's). The pivot (bot/summarize/maker.py:
a model that will not write the asked language) holds its article-language digest
before it starts, and when the budget cannot cover it the offline fallback answers
instead: a small allowance still gets a normal digest. When what is left today is too
small for the direct digest, the
start of the article that fits is summarized instead (cut at a paragraph or word break,
at least one full map-reduce part), and the digest says it was cut: a big article
against a small remaining budget gets a digest of its beginning rather than a refusal.
Only when not even one part fits is the request refused (BudgetExceeded). A digest cut
this way is not cached: it is the product of one user's budget, not of the article.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.domain import Article, Lang, Length
from bot.errors import BudgetExceeded
from bot.summarize.pipeline import LLMSummarizer

log = logging.getLogger(__name__)

# called with tokens to hold; returns what is held in all (0: exempt from the budget)
Hold = Callable[[int], Awaitable[int]]


async def hold_within(
    summarizer: LLMSummarizer, article: Article, lang: Lang, length: Length, hold: Hold
) -> tuple[Article, int]:
    """Hold (through `hold`) the estimated cost of the digest of `article` in `lang`;
    return the article and what is held. When that does not fit, hold the cost of the
    start of it that fits the budget left and return that start. Raises
    BudgetExceeded when not even one part fits."""
    try:
        return article, await hold(summarizer.estimate(article, lang=lang, length=length))
    except BudgetExceeded as exc:
        left = int(exc.params.get("left") or 0)
        start = summarizer.cut_to_fit(article, lang=lang, length=length, tokens=left)
        if start is None:
            raise
    log.info(
        "article cut to %d of %d chars for the budget left", len(start.text), len(article.text)
    )
    return start, await hold(summarizer.estimate(start, lang=lang, length=length))
