"""Telegram documents and photos -> `Incoming.document`: what the message says about the
file and a `download` that fetches it through getFile from
`{TELEGRAM_BASE_URL}/file/bot<token>/<file_path>` (PTB's base_file_url).

A photo is attached as a document too (`Document.photo`; its largest size), unless its
caption is itself what to read (a link, or a caption as long as an article: a channel
post forwarded with its picture). `/summarize` in reply to a photo or a file attaches it.
An edited message's file is attached the same way (a caption edit, a swapped file).

The download is capped while it is read (AiohttpRequest.download stops at
MAX_DOCUMENT_BYTES): the size in the message and in getFile's answer may be missing,
and a local Bot API server serves files far over the cloud API's 20 MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from telegram import Update

from bot.ingest.documents import MAX_DOCUMENT_BYTES, DocumentTooLarge, check_size
from bot.ingest.inputs import find_url
from bot.messages import Document, Incoming
from bot.telegram.incoming import edit_time
from bot.telegram.transport import AiohttpRequest, BodyTooLarge

if TYPE_CHECKING:
    from telegram import Bot, File, Message

# a caption at least this long is an article of its own, not an instruction for the photo
ARTICLE_CAPTION = 200


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


def _attached(msg: Message, incoming: Incoming | None) -> Document | None:
    """The file a message carries for us to read, without its `download`: a document,
    a photo (its largest size; not when the caption is a link or an article), or the
    document or photo a `/summarize` without arguments replies to."""
    if msg.document is not None and msg.animation is None:  # a GIF is no document to read
        return _file(msg)
    photo = msg.photo
    if not photo and incoming is not None and incoming.command == "summarize":
        reply = msg.reply_to_message
        if reply is not None and not incoming.args:
            if reply.document is not None and reply.animation is None:
                return _file(reply)
            photo = reply.photo
    if not photo:
        return None
    caption = msg.caption or ""
    if msg.photo and (find_url(caption) or len(caption) >= ARTICLE_CAPTION):
        return None
    size = max(photo, key=lambda p: p.width * p.height)
    return Document(
        size.file_id,
        "photo.jpg",
        "image/jpeg",
        size.file_size,
        _none,
        photo=True,
        unique_id=size.file_unique_id,
    )


def _file(msg: Message) -> Document | None:
    doc = msg.document
    if doc is None:
        return None
    return Document(
        doc.file_id,
        doc.file_name,
        doc.mime_type,
        doc.file_size,
        _none,
        unique_id=doc.file_unique_id,
    )


def _from_bot(msg: Message | None, bot: Bot) -> bool:
    return msg is not None and msg.from_user is not None and msg.from_user.id == bot.id


async def _none() -> bytes:
    return b""


def with_document(update: Update, bot: Bot, incoming: Incoming | None) -> Incoming | None:
    """`incoming` with the message's document (or photo) attached; for a document or a
    photo without a caption (which `to_incoming` skips) a new Incoming. Other updates
    pass through."""
    msg = update.message or update.edited_message
    if msg is None or msg.from_user is None:
        return incoming
    found = _attached(msg, incoming)
    if found is None:
        return incoming
    file_id = found.file_id

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
            reply_to_message_id=msg.reply_to_message.message_id if msg.reply_to_message else None,
            reply_to_bot=_from_bot(msg.reply_to_message, bot),
            edited_at=edit_time(update),
        )
    incoming.document = Document(
        file_id,
        found.name,
        found.mime_type,
        found.size,
        download,
        photo=found.photo,
        unique_id=found.unique_id,
    )
    return incoming
