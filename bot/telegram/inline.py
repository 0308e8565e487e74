"""Inline queries on the Telegram side: `InlineAnswer` -> answerInlineQuery.

The digest is an InlineQueryResultArticle (title, description, the digest as HTML, a
button to the source); a link not summarized in time gets the "summarize in the bot"
button (InlineQueryResultsButton with a /start parameter). Results are personal
(`is_personal`): they are in the asking user's language.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.chat.inline import InlineAnswer, InlineResult, inline_digest

if TYPE_CHECKING:
    from bot.chat.router import Conversation

log = logging.getLogger(__name__)


def _article(r: InlineResult) -> InlineQueryResultArticle:
    markup = (
        InlineKeyboardMarkup([[InlineKeyboardButton(r.source_label, url=r.url)]]) if r.url else None
    )
    content = InputTextMessageContent(
        r.html,
        parse_mode=ParseMode.HTML,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    return InlineQueryResultArticle(
        id=r.id,
        title=r.title,
        description=r.description,
        input_message_content=content,
        reply_markup=markup,
        url=r.url,
    )


async def answer_inline(query: InlineQuery, conv: Conversation, bot_username: str) -> None:
    """Answer one inline query (never raises for the Bot API refusing the answer)."""
    user = query.from_user
    answer: InlineAnswer = await inline_digest(
        conv.services, user.id, user.language_code, query.query
    )
    button = (
        InlineQueryResultsButton(text=answer.button_text, start_parameter=answer.start_parameter)
        if answer.button_text and answer.start_parameter
        else None
    )
    try:
        await query.answer(
            [_article(r) for r in answer.results],
            cache_time=answer.cache_seconds,
            is_personal=True,
            button=button,
        )
    except TelegramError as exc:  # the query expired meanwhile: nothing left to do
        log.info("answerInlineQuery failed: %s", exc)
