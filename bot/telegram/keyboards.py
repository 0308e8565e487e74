"""Our transport-neutral `Button` rows as a Telegram inline keyboard."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Button

MAX_CALLBACK_BYTES = 64


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """Return the inline keyboard for `rows` (None when there are no buttons).

    Raises ValueError for a callback button whose data is over Telegram's 64 bytes, so
    a bad button fails in our code rather than as a 400 from Telegram.
    """
    out: list[list[InlineKeyboardButton]] = []
    for row in rows:
        buttons = []
        for b in row:
            if b.url:
                buttons.append(InlineKeyboardButton(b.text, url=b.url))
                continue
            data = b.callback or ""
            if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES:
                raise ValueError(f"callback data must be 1-64 bytes: {data!r}")
            buttons.append(InlineKeyboardButton(b.text, callback_data=data))
        if buttons:
            out.append(buttons)
    return InlineKeyboardMarkup(out) if out else None
