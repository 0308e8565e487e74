"""Telegram documents -> `Incoming.document`: what the message says about the file and
a `download` that fetches it through getFile from
`{TELEGRAM_BASE_URL}/file/bot<token>/<file_path>` (PTB's base_file_url)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import Update

from bot.messages import Document, Incoming

if TYPE_CHECKING:
    from telegram import Bot


def with_document(update: Update, bot: Bot, incoming: Incoming | None) -> Incoming | None:
    """`incoming` with the message's document attached; for a document without a
    caption (which `to_incoming` skips) a new Incoming. Other updates pass through."""
    msg = update.message
    if msg is None or msg.document is None or msg.from_user is None:
        return incoming
    doc = msg.document
    file_id = doc.file_id

    async def download() -> bytes:
        file = await bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())

    if incoming is None:
        incoming = Incoming(
            user_id=msg.from_user.id,
            chat_id=msg.chat.id,
            chat_type="private" if msg.chat.type == "private" else "group",
            language_code=msg.from_user.language_code,
            message_id=msg.message_id,
            first_name=msg.from_user.first_name,
        )
    incoming.document = Document(file_id, doc.file_name, doc.mime_type, doc.file_size, download)
    return incoming
