"""One question, answered under the user's limits: the per-minute rate, then the day's
token budget held for the worst case before any model call (an answer call and its
corrective retry; refunded at settle when cheaper, e.g. a cached answer), the answer
growing in the chat as the model writes it, then the true cost settled.

Used for questions about a digest (`chat/followups.py`) and about a briefing's story
(`chat/briefing_questions.py`), so both spend the same budget the same way.
"""

from __future__ import annotations

from bot.domain import Lang, Stage
from bot.followups import MAX_ANSWER_TOKENS, Answer
from bot.messages import Incoming, Outbox
from bot.render import render_partial_html
from bot.services import Services


async def answer_within_limits(
    services: Services,
    msg: Incoming,
    out: Outbox,
    question: str,
    *,
    ui: Lang,
    target: int | None = None,
    article_id: str | None = None,
    reply_to: int | None = None,
) -> Answer:
    """Answer `question` about `article_id` (else the article `target` is bound to, else
    the chat's latest), showing it as it is written in a reply to `reply_to`.
    Raises RateLimited / BudgetExceeded and the service's typed errors."""
    ticket = await services.limits.reserve(msg.user_id)
    held = 0
    await out.typing()

    async def progress(stage: Stage) -> None:  # the answer as the model writes it
        if stage.partial is not None:
            await out.live(render_partial_html(stage.partial, ui), reply_to=reply_to)

    try:
        estimate = 2 * (services.settings.llm_max_input_tokens + MAX_ANSWER_TOKENS)
        held = await services.limits.hold_tokens(ticket, estimate)
        answer = await services.followups.answer(
            chat_id=msg.chat_id,
            question=question,
            lang=None,
            reply_to_message_id=target,
            user_id=msg.user_id,
            article_id=article_id,
            progress=progress,
        )
    except BaseException:
        await services.limits.cancel(ticket, held=held)
        raise
    cached = answer.path == "cache"
    spent = services.limits.charge(answer.tokens, answer.tokens_cached)
    await services.limits.settle(ticket, cached=cached, tokens=spent, held=held)
    return answer
