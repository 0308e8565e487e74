"""Follow-up questions in a chat: routing to `services.followups` and sending the answer.

Which messages are questions is decided by the router and `digests.on_text`: in a
private chat, plain text that is not a command, a link or an article; in groups, only
replies to the bot's messages; and taps on a digest's suggested-question buttons.
An empty question gets a hint.
"""

from __future__ import annotations

from bot.chat.answering import answer_within_limits
from bot.chat.briefing_questions import ask_briefing
from bot.chat.router import Conversation
from bot.followups import render_answer_html
from bot.messages import Incoming, Outbox, Reply


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
    reply_to = msg.message_id if msg.callback is None else None
    answer = await answer_within_limits(
        services, msg, out, question, ui=ui, target=target, reply_to=reply_to
    )
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
