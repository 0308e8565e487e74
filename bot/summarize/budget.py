"""Holding a digest's estimated cost from the user's daily budget before the LLM work.

When what is left today is too small for the whole article, the start of it that fits
is summarized instead (cut at a paragraph or word break, at least one full map-reduce
part), and the digest says it was cut: a big article against a small remaining budget
gets a digest of its beginning rather than a refusal. Only when not even one part fits
is the request refused (BudgetExceeded). A digest cut this way is not cached: it is
the product of one user's budget, not of the article.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.domain import Article, Lang, Length
from bot.errors import BudgetExceeded
from bot.summarize.pipeline import LLMSummarizer

log = logging.getLogger(__name__)

Reserve = Callable[[int], Awaitable[object]]


async def reserve_within(
    summarizer: LLMSummarizer, article: Article, lang: Lang, length: Length, reserve: Reserve
) -> Article:
    """Hold (through `reserve`) the estimated cost of summarizing `article` and return
    it; when that does not fit, hold the cost of the start of it that fits the budget
    left and return that start. Raises BudgetExceeded when not even one part fits."""
    try:
        await reserve(summarizer.estimate(article, lang=lang, length=length))
        return article
    except BudgetExceeded as exc:
        left = int(exc.params.get("left") or 0)
        start = summarizer.cut_to_fit(article, lang=lang, length=length, tokens=left)
        if start is None:
            raise
    log.info(
        "article cut to %d of %d chars for the budget left", len(start.text), len(article.text)
    )
    await reserve(summarizer.estimate(start, lang=lang, length=length))
    return start
