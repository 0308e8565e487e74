"""Telegram documents -> `Incoming.document`: what the message says about the file and
a `download` that fetches it through getFile from
`{TELEGRAM_BASE_URL}/file/bot<token>/<file_path>` (PTB's base_file_url).

The download is capped while it is read (AiohttpRequest.download stops at
MAX_DOCUMENT_BYTES): the size in the message and in getFile's answer may be missing,
and a local Bot API server serves files far over the cloud API's 20 MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from telegram import Update

from bot.ingest.documents import MAX_DOCUMENT_BYTES, DocumentTooLarge, check_size
from bot.messages import Document, Incoming
from bot.telegram.transport import AiohttpRequest, BodyTooLarge

if TYPE_CHECKING:
    from telegram import Bot, File


async def download_file(bot: Bot, file_id: str) -> bytes:
    """The bytes of the file `file_id`, at most MAX_DOCUMENT_BYTES (DocumentTooLarge)."""
    file = await bot.get_file(file_id)
    check_size(file.file_size)
    request = bot.request
    if not isinstance(request, AiohttpRequest) or not _remote(file):
        data = bytes(await file.download_as_bytearray())  # a local Bot API server's disk
        check_size(len(data))
        return data
    try:
        return await request.download(_encoded_url(file), MAX_DOCUMENT_BYTES)
    except BodyTooLarge as exc:
        raise DocumentTooLarge(f"download stopped: {exc}", limit_mb=20) from None


def _remote(file: File) -> bool:
    return bool(file.file_path) and str(file.file_path).startswith(("http://", "https://"))


def _encoded_url(file: File) -> str:
    """The file's URL with non-ASCII characters of its path percent-encoded (as PTB's
    File does before downloading)."""
    parts = urlsplit(str(file.file_path))
    return urlunsplit(parts._replace(path=quote(parts.path)))


def with_document(update: Update, bot: Bot, incoming: Incoming | None) -> Incoming | None:
    """`incoming` with the message's document attached; for a document without a
    caption (which `to_incoming` skips) a new Incoming. Other updates pass through."""
    msg = update.message
    if msg is None or msg.document is None or msg.from_user is None:
        return incoming
    doc = msg.document
    file_id = doc.file_id

    async def download() -> bytes:
        return await download_file(bot, file_id)

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
