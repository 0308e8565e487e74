"""Documents and photos sent in a private chat: summarized like a pasted article.

Photos (and image files) are read by OCR (bot/ingest/ocr.py); in a group a photo is read
when it is addressed to the bot (a caption that mentions it, a reply to the bot, or a
`/summarize` reply to the photo). OCR counts against the user's rate: the unit reserved
before reading is kept when OCR ran (not from its cache), even when no text was found.

The caption is the instruction: a language (`ar`, `en`) and/or a length (`short`,
`detailed`), optionally after `/summarize`. The size the transport reports is checked
against the Bot API's 20 MB download limit BEFORE downloading; then the bytes become an
Article in a worker thread (bot/ingest/documents.py) and go through `digest_article`,
so the same limits, the cache (the article id is a hash of the text) and follow-up
questions apply.
"""

from __future__ import annotations

import asyncio
import logging

from bot import stats
from bot.chat.digests import digest_article, stage_text
from bot.chat.router import Conversation
from bot.domain import Lang, Length, Stage
from bot.errors import BadInput
from bot.ingest import ocr
from bot.ingest.documents import Reading, check_size, document_kind, read_document
from bot.messages import Document, Incoming, Outbox
from bot.services import Services

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


async def on_document(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Summarize the document in `msg` (private chats only; groups ignore files)."""
    doc = msg.document
    if doc is None or (msg.chat_type != "private" and not doc.photo):
        return
    check_size(doc.size)
    # refuse an unsupported type, or a picture on a server without OCR, before downloading
    if document_kind(doc.name, doc.mime_type) == "image" and not await asyncio.to_thread(
        ocr.available
    ):
        raise ocr.OcrUnavailable("tesseract is not installed")
    lang, length = instruction(msg.text)
    # the rate limit is checked before the download and the reading (CPU work), then
    # handed back (unless OCR ran): digest_article takes the request's unit as for any
    # article
    limits = conv.services.limits
    ticket = await limits.reserve(msg.user_id)
    keep = False
    try:
        await out.typing()
        await out.progress(stage_text(await conv.lang(msg), Stage("extracting")))
        data = await _download(doc)
        try:
            reading = await read_any(conv.services, data, doc.name, doc.mime_type)
        except (ocr.NoTextInImage, ocr.SlowOcr):
            keep = True  # OCR ran: it counts even when it found nothing
            raise
        keep = reading.ocr_pages > 0
    finally:
        if not keep:
            await limits.cancel(ticket)
    await digest_article(conv, msg, out, reading.article, lang=lang, length=length)


async def read_any(
    services: Services, data: bytes, name: str | None, mime_type: str | None
) -> Reading:
    """A document's Reading (OCR where needed, cached in Redis), with the OCR pages and
    seconds added to today's /stats counters."""
    settings = services.settings
    reading = await read_document(
        data,
        name,
        mime_type,
        settings.ocr_limits(),
        services.store,
        cache_seconds=settings.article_cache_hours * 3600,
    )
    if reading.ocr_pages:
        await stats.incr_many(
            services.store,
            {"ocr_pages": reading.ocr_pages, "ocr_seconds": round(reading.ocr_seconds)},
        )
    return reading
