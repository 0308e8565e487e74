"""An uploaded (or downloaded) document to an Article: PDF, plain text, HTML, .docx,
and pictures (PNG, JPEG, WebP, TIFF, BMP, GIF) read by OCR.

The kind is taken from the file's first bytes when they say it (PDF, zip, an image
signature), else from the file name's extension, else from the MIME type the client
sent. Each kind becomes text, then goes through the same extraction as a pasted article
(extract_text) or a web page (extract_html), so dates, titles, boilerplate and the
minimum length apply alike.

`read_document` is the one entry point of the callers (an upload, a photo, a PDF or
image link, the CLI): pictures and the PDF pages whose text layer cannot be trusted
(bot/ingest/pdf.py `text_layer`) are read by OCR (bot/ingest/ocr.py) in the OCR pool,
one page at a time, and what OCR read is cached in Redis by the bytes' sha256.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from bot import metrics
from bot.domain import Article
from bot.errors import BadInput
from bot.ingest import ocr
from bot.ingest.decode import decode_body, is_image
from bot.ingest.docx import docx_text
from bot.ingest.extract import extract_html, extract_text
from bot.ingest.pdf import BadPdf, PageSource, merge_pages, pdf_to_text, refusal, text_layer

if TYPE_CHECKING:
    from bot.store.redis import Store

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit
# Reading a document (above all a PDF: up to MAX_SECONDS of pdfminer) runs in its own
# small pool, so a few slow files queue there and never take every thread of the
# default executor, which feed parsing and page extraction use too.
READERS = 2
_POOL = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="documents")
# OCR (a tesseract process per page, about 2 s of one core each) has a pool of its own
# with one thread: pictures and scans queue there, one page at a time, and never take
# the documents' threads or more than one core of a small server.
OCR_READERS = 1
_OCR_POOL = ThreadPoolExecutor(max_workers=OCR_READERS, thread_name_prefix="ocr")
T = TypeVar("T")
SUPPORTED = "PDF, TXT, HTML, DOCX, PNG, JPEG, WebP, TIFF"

Kind = Literal["pdf", "text", "html", "docx", "image"]

_EXTENSIONS: dict[str, Kind] = {
    "pdf": "pdf",
    "txt": "text",
    "text": "text",
    "md": "text",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "docx": "docx",
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "webp": "image",
    "tif": "image",
    "tiff": "image",
    "bmp": "image",
    "gif": "image",
}
_MIME: dict[str, Kind] = {
    "application/pdf": "pdf",
    "text/plain": "text",
    "text/markdown": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "image/png": "image",
    "image/jpeg": "image",
    "image/webp": "image",
    "image/tiff": "image",
    "image/bmp": "image",
    "image/gif": "image",
}


class UnsupportedDocument(BadInput):
    """A file of a kind we cannot read; `params['supported']` lists the kinds we can."""

    key = "document.unsupported"


class DocumentTooLarge(BadInput):
    key = "document.too_large"


async def in_reader(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in the documents pool (with the caller's context, as to_thread)."""
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await asyncio.get_running_loop().run_in_executor(_POOL, call)


async def in_ocr(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in the OCR pool (with the caller's context)."""
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await asyncio.get_running_loop().run_in_executor(_OCR_POOL, call)


def document_kind(name: str | None, mime_type: str | None, head: bytes = b"") -> Kind:
    """What kind of document this is. Raises UnsupportedDocument."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if is_image(head):
        return "image"
    ext = (name or "").rsplit(".", 1)[-1].lower() if "." in (name or "") else ""
    kind = _EXTENSIONS.get(ext) or _MIME.get((mime_type or "").split(";")[0].strip().lower())
    if kind is None or (head and kind != "docx" and head.startswith(b"PK\x03\x04")):
        raise UnsupportedDocument(
            f"unsupported document {ext or mime_type or 'unknown'}", supported=SUPPORTED
        )
    return kind


def check_size(size: int | None) -> None:
    """Refuse a document over MAX_DOCUMENT_BYTES before downloading it."""
    if size is not None and size > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"document of {size} bytes", limit_mb=20)


def document_article(data: bytes, name: str | None, mime_type: str | None) -> Article:
    """The article in a document's bytes (CPU-bound: run it in a thread).

    Raises UnsupportedDocument, DocumentTooLarge, BadPdf / ScannedPdf, BadDocx,
    TextTooShort, or UnsupportedContent (an undecodable text file)."""
    check_size(len(data))
    kind = document_kind(name, mime_type, data[:8])
    if kind == "html":
        text, _ = decode_body(data, None)
        return extract_html(text, None).model_copy(update={"url": None})
    if kind == "image":
        raise UnsupportedDocument("a picture needs read_document (OCR)", supported=SUPPORTED)
    if kind == "pdf":
        text = pdf_to_text(data)
    elif kind == "docx":
        text = docx_text(data)
    else:
        if b"\x00" in data[:8192]:
            raise UnsupportedDocument("binary data in a text file", supported=SUPPORTED)
        text, _ = decode_body(data, None)
    return extract_text(text)


@dataclass
class Reading:
    """A document read by `read_document`: the article, what each PDF page gave
    (`pages`: "text", "ocr" or "none"; empty for other kinds), how many pages OCR read
    now (0 when its text came from the cache) and in how many seconds, and whether
    pages were left unread (OCR page cap or time limit; the article is then `partial`)."""

    article: Article
    pages: list[PageSource] = field(default_factory=list)
    ocr_pages: int = 0
    ocr_seconds: float = 0.0
    ocr_cached: bool = False


async def read_document(
    data: bytes,
    name: str | None,
    mime_type: str | None,
    limits: ocr.OcrLimits,
    store: Store | None = None,
    *,
    cache_seconds: int = 12 * 3600,
) -> Reading:
    """The article in a document's bytes; pictures and the PDF pages whose text layer
    cannot be trusted are read by OCR (cached in `store` by the bytes' sha256 for
    `cache_seconds`). Raises what `document_article` raises, and OcrUnavailable,
    BadImage, ImageTooLarge, NoTextInImage, SlowOcr."""
    check_size(len(data))
    kind = document_kind(name, mime_type, data[:16])
    if kind == "image":
        found, cached = await _ocr_cached(store, data, cache_seconds, ocr.image_text, data, limits)
        reading = Reading(
            extract_text(found.text),
            ocr_pages=0 if cached else found.pages,
            ocr_seconds=0.0 if cached else found.seconds,
            ocr_cached=cached,
        )
    elif kind == "pdf":
        reading = await _read_pdf(data, limits, store, cache_seconds)
    else:
        return Reading(await in_reader(document_article, data, name, mime_type))
    _count(reading)
    return reading


async def _read_pdf(
    data: bytes, limits: ocr.OcrLimits, store: Store | None, cache_seconds: int
) -> Reading:
    """A PDF page by page: its trusted text layers, OCR for the other pages."""
    try:
        layer = await in_reader(text_layer, data)
    except BadPdf:  # pdfminer chokes on it: PDFium may still draw its pages
        if not await asyncio.to_thread(ocr.available):
            raise
        try:
            count = await in_ocr(ocr.pdf_page_count, data)
        except ocr.BadImage:
            raise BadPdf("neither pdfminer nor PDFium can open it") from None
        layer, need = [], list(range(count))
    else:
        need = [i for i, page in enumerate(layer) if page.verdict != "good"]
    if not need:
        text, sources = merge_pages(layer, {})
        return Reading(extract_text(text), sources)
    if not await asyncio.to_thread(ocr.available):  # (runs `tesseract` once)
        text, sources = merge_pages(layer, {})
        if not text:  # nothing to pass on: say why (a scan, unmapped or garbled letters)
            raise refusal(layer) if layer else ocr.OcrUnavailable("no tesseract")
        log.info("PDF: %d of %d pages left out (no OCR here)", len(need), len(sources))
        article = extract_text(text).model_copy(update={"partial": True})
        return Reading(article, sources)
    found, cached = await _ocr_cached(
        store, data, cache_seconds, ocr.pdf_pages_text, data, need, limits
    )
    text, sources = merge_pages(layer, found.by_page, len(layer) or len(need))
    log.info(
        "PDF pages: %s (OCR %d pages in %.1f s%s)",
        "".join(s[0] for s in sources),  # t = text layer, o = OCR, n = none
        found.pages,
        found.seconds,
        ", cached" if cached else "",
    )
    if not text:  # OCR found nothing either: a scan of no text, or of a picture
        raise refusal(layer) if layer else BadPdf("PDFium draws no text in it")
    article = extract_text(text)
    if found.skipped:
        article = article.model_copy(update={"partial": True})
    return Reading(
        article,
        sources,
        ocr_pages=0 if cached else found.pages,
        ocr_seconds=0.0 if cached else found.seconds,
        ocr_cached=cached,
    )


async def _ocr_cached(
    store: Store | None,
    data: bytes,
    seconds: int,
    fn: Callable[..., ocr.OcrText],
    *args: object,
) -> tuple[ocr.OcrText, bool]:
    """`fn(*args)` in the OCR pool, or what it returned for the same bytes before."""
    key = store.keys.ocr(hashlib.sha256(data).hexdigest()) if store is not None else None
    if store is not None and key is not None:
        raw = await store.redis.get(key)
        if raw is not None:
            try:
                found = json.loads(raw)
                found["by_page"] = {int(k): v for k, v in found["by_page"].items()}
                return ocr.OcrText(**found), True
            except (ValueError, KeyError, TypeError):
                log.warning("dropping an unreadable cached OCR text")
    found = await in_ocr(fn, *args)
    if store is not None and key is not None:
        raw = json.dumps(dataclasses.asdict(found), ensure_ascii=False)
        await store.redis.set(key, raw, ex=seconds)
    return found, False


def _count(reading: Reading) -> None:
    """OCR pages and seconds, and each PDF page's path, in /metrics."""
    for source in reading.pages:
        metrics.PDF_PAGES.labels(path=source).inc()
    if reading.ocr_pages:
        metrics.OCR_PAGES.inc(reading.ocr_pages)
        metrics.OCR_SECONDS.inc(reading.ocr_seconds)
