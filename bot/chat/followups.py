"""Follow-up questions in a chat: routing to `services.followups` and sending the answer.

Which messages are questions is decided by the router and `digests.on_text`: in a
private chat, plain text that is not a command, a link or an article; in groups, only
replies to the bot's messages; and taps on a digest's suggested-question buttons.
An empty question gets a hint.
"""

from __future__ import annotations

from bot.chat.briefing_questions import ask_briefing
from bot.chat.router import Conversation
from bot.domain import Stage
from bot.followups.anchored import MAX_ANSWER_TOKENS
from bot.followups.render import render_answer_html
from bot.messages import Incoming, Outbox, Reply
from bot.render import render_partial_html


async def ask(
    conv: Conversation,
    msg: Incoming,
    out: Outbox,
    question: str,
    *,
    reply_to: int | None = None,
) -> None:
    """Answer `question` about the chat's article (the one `reply_to` is bound to, else
    the chat's most recent), under the user's limits. Raises the service's typed errors
    (NoActiveArticle, RateLimited ...) for the router to translate."""
    services = conv.services
    question = question.strip()
    if not question:
        await conv.say(msg, out, "chat.hint")
        return
    ui = await conv.lang(msg)
    target = reply_to if reply_to is not None else msg.reply_to_message_id
    if msg.chat_type != "private" and target is None:
        await conv.say(msg, out, "chat.hint")  # in groups only replies are questions
        return
    if target is not None and await ask_briefing(conv, msg, out, question, target):
        return  # a reply to a briefing: a question about its stories
    ticket = await services.limits.reserve(msg.user_id)
    held = 0
    await out.typing()
    reply_to = msg.message_id if msg.callback is None else None

    async def progress(stage: Stage) -> None:  # the answer as the model writes it
        if stage.partial is not None:
            await out.live(render_partial_html(stage.partial, ui), reply_to=reply_to)

    try:
        # a question costs at most an answer call and its corrective retry (refunded
        # at settle when it is cheaper, e.g. a cached answer); refused when it does not fit
        estimate = 2 * (services.settings.llm_max_input_tokens + MAX_ANSWER_TOKENS)
        held = await services.limits.hold_tokens(ticket, estimate)
        answer = await services.followups.answer(
            chat_id=msg.chat_id,
            question=question,
            lang=None,
            reply_to_message_id=target,
            user_id=msg.user_id,
            progress=progress,
        )
    except BaseException:
        await services.limits.cancel(ticket, held=held)
        raise
    cached = answer.path == "cache"
    await services.limits.settle(ticket, cached=cached, tokens=answer.tokens, held=held)
    reply = Reply(
        html=render_answer_html(answer, ui),
        kind="answer",
        article_id=answer.article_id,
        reply_to_message_id=reply_to,
        edit_placeholder=True,
    )
    ids = await out.send(reply)
    for mid in ids:
        await services.followups.bind_message(msg.chat_id, mid, answer.article_id)
