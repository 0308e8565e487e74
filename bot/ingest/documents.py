"""An uploaded (or downloaded) document to an Article: PDF, plain text, HTML, .docx.

The kind is taken from the file's first bytes when they say it (PDF, zip), else from
the file name's extension, else from the MIME type the client sent. Each kind becomes
text, then goes through the same extraction as a pasted article (extract_text) or a web
page (extract_html), so dates, titles, boilerplate and the minimum length apply alike.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from bot.domain import Article
from bot.errors import BadInput
from bot.ingest.decode import decode_body
from bot.ingest.docx import docx_text
from bot.ingest.extract import extract_html, extract_text
from bot.ingest.pdf import pdf_to_text

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit
# Reading a document (above all a PDF: up to MAX_SECONDS of pdfminer) runs in its own
# small pool, so a few slow files queue there and never take every thread of the
# default executor, which feed parsing and page extraction use too.
READERS = 2
_POOL = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="documents")
T = TypeVar("T")
SUPPORTED = "PDF, TXT, HTML, DOCX"

Kind = Literal["pdf", "text", "html", "docx"]

_EXTENSIONS: dict[str, Kind] = {
    "pdf": "pdf",
    "txt": "text",
    "text": "text",
    "md": "text",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "docx": "docx",
}
_MIME: dict[str, Kind] = {
    "application/pdf": "pdf",
    "text/plain": "text",
    "text/markdown": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
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


def document_kind(name: str | None, mime_type: str | None, head: bytes = b"") -> Kind:
    """What kind of document this is. Raises UnsupportedDocument."""
    if head.startswith(b"%PDF-"):
        return "pdf"
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
    if kind == "pdf":
        text = pdf_to_text(data)
    elif kind == "docx":
        text = docx_text(data)
    else:
        if b"\x00" in data[:8192]:
            raise UnsupportedDocument("binary data in a text file", supported=SUPPORTED)
        text, _ = decode_body(data, None)
    return extract_text(text)
