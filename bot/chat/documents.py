"""Documents and photos sent in a private chat: summarized like a pasted article.

Photos (and image files) are read by OCR (bot/readers/image.py); in a group a picture,
sent as a photo or as a file, is read when it is addressed to the bot (a caption that
mentions it, a reply to the bot, or a `/summarize` reply to the picture); other files
sent to the bot there get a pointer to the private chat. OCR counts against the user's rate like any reading:
the unit reserved before reading is kept, even when no text was found.

The caption is the instruction: a language (`ar`, `en`) and/or a length (`short`,
`detailed`), optionally after `/summarize`. The size the transport reports is checked
against the Bot API's 20 MB download limit BEFORE downloading, and the kind against the
readers' registry; then the bytes become an Article in a reader worker process
(bot/readers/, under the reader's limits), as the loader of one metered request
(`digest_article`): the rate unit is taken before the download and kept when the file
turns out unreadable, and the same budget, the cache (the article id is a hash of the
text) and follow-up questions apply.
"""

from __future__ import annotations

import asyncio
import logging

from bot.chat.digests import digest_article, stage_text
from bot.chat.router import Conversation
from bot.domain import Article, Lang, Length, Stage
from bot.errors import BadInput
from bot.ingest import ocr
from bot.ingest.documents import check_size
from bot.messages import Document, Incoming, Outbox
from bot.readers import Input, choose

log = logging.getLogger(__name__)


class DownloadFailed(BadInput):
    key = "document.download_failed"


def register(conv: Conversation) -> None:
    conv.on_document(on_document)


def instruction(caption: str) -> tuple[Lang | None, Length | None]:
    """The language and length asked for in a document's caption (None: the user's
    preference)."""
    lang: Lang | None = None
    length: Length | None = None
    for word in caption.lower().split():
        word = word.strip(".,!،")
        if word in ("ar", "en", "arabic", "english", "عربي", "انجليزي", "إنجليزي"):
            lang = "en" if word in ("en", "english", "انجليزي", "إنجليزي") else "ar"
        elif word in ("short", "detailed", "long", "قصير", "مفصل", "مفصّل"):
            length = "short" if word in ("short", "قصير") else "detailed"
    return lang, length


async def _download(doc: Document) -> bytes:
    try:
        return await doc.download()
    except BadInput:
        raise
    except Exception as exc:  # the transport's own network/API errors
        log.warning("document download failed: %s", type(exc).__name__)
        raise DownloadFailed(f"download failed ({type(exc).__name__})") from exc


def is_picture(doc: Document) -> bool:
    """A photo, or a file the image reader takes (by its name or MIME type)."""
    if doc.photo:
        return True
    try:
        return choose(doc.name, doc.mime_type).name == "image"
    except BadInput:  # a type no reader takes
        return False


async def on_document(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Summarize the document in `msg`: any kind in a private chat; in a group (where
    the router passes only files addressed to the bot) a picture, a photo or an image
    file alike, and for other files a pointer to the private chat."""
    doc = msg.document
    if doc is None:
        return
    if msg.chat_type != "private" and not is_picture(doc):
        await conv.say(msg, out, "document.private_only")
        return
    check_size(doc.size)
    # refuse an unsupported type, or a picture on a server without OCR, before downloading
    reader = choose(doc.name, doc.mime_type)
    if reader.name == "image" and not await asyncio.to_thread(ocr.available):
        raise ocr.OcrUnavailable("tesseract is not installed")
    lang, length = instruction(msg.text)
    ui = await conv.lang(msg)

    async def read() -> Article:
        """Download and read the document: the request's work, done under its rate
        unit (checked before the download; kept even when the file cannot be read)."""
        await out.typing()
        await out.progress(stage_text(ui, Stage("extracting")))
        data = await _download(doc)
        inp = Input(data=data, name=doc.name, mime_type=doc.mime_type, origin="upload")
        return await conv.services.summarizer.load_document(inp)

    await digest_article(conv, msg, out, read, lang=lang, length=length)
