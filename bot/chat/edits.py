"""Edited messages: what a user expects when they fix a message the bot read.

An edit is read as what the message says now and answered like a new message (a link
fixed for a typo gets the fixed link's digest; a question reworded gets its answer),
once per content: the router claims each message's content before answering it
(`bot/handled.py`, atomic in Redis), so

* a new message is answered once (a repeated delivery, or one whose edit was
  handled first, is not);
* an edit is answered when what it asks differs from what was answered for that
  message, and a second identical edit gets nothing;
* an edit of a message that was never answered (in a group, a message that only now
  mentions the bot) is answered once.

"What it asks" is `material(msg)`: the command, the file, and the text with spaces
and case folded; for a short message holding a link, only the link (normalized), so
rewording the comment beside a link does not send the same digest again. In a group
an edit counts only when it is addressed to the bot, as a new message must be; an edit
that leaves no text (a live location moving) is not answered at all
(bot/telegram/incoming.py). Edited channel posts are not asked of Telegram: the bot
reads only commands in channels, and a channel's admins change a setting by posting
the command again.
"""

from __future__ import annotations

import contextlib

from bot.handled import HandledMessages
from bot.ingest.inputs import ARTICLE_MIN_CHARS, find_url, normalize_url
from bot.messages import Incoming


def addressed(msg: Incoming) -> bool:
    """Whether the bot answers `msg`'s kind of message in its chat: everything in a
    private chat; in a group a command, a mention, a reply to the bot or a comment on
    a channel post (the router's own rule, bot/chat/router.py)."""
    if msg.chat_type == "private":
        return True
    return bool(msg.command or msg.mentioned or msg.reply_to_bot or msg.reply_to_post)


def material(msg: Incoming) -> str:
    """What `msg` asks, as a string equal for two versions of a message that deserve
    the same answer."""
    body = msg.args if msg.command else msg.text
    words = [w for w in body.split() if not (msg.mentioned and w.startswith("@"))]
    text = " ".join(words).casefold()
    if len(text) < ARTICLE_MIN_CHARS:
        url = find_url(" ".join(words))
        if url:
            with contextlib.suppress(ValueError):  # a malformed link: keep the text
                text = "link " + normalize_url(url)
    doc = msg.document
    file = f"file {doc.unique_id or doc.file_id}" if doc is not None else ""
    return "\n".join((msg.command or "", file, text))


async def first_time(handled: HandledMessages, msg: Incoming) -> bool:
    """Whether `msg` should be answered now: False for an edit not addressed to the bot
    and for content of this message already answered (see the module's docstring).
    Claims the content when True. Button presses and messages without an id (the
    console) are always answered."""
    if msg.callback is not None or msg.message_id is None or msg.unsupported is not None:
        return True
    if not addressed(msg):
        return msg.edited_at is None  # the router decides (and ignores) group chatter
    return await handled.claim(msg.chat_id, msg.message_id, material(msg), edited_at=msg.edited_at)
