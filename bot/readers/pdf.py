"""PDF documents, uploaded or linked: each page's text layer in reading order
(bot/ingest/pdf.py), judged page by page; the pages whose layer cannot be trusted (none:
a scan; glyphs mapped to no letters; letters that are not words) are read by OCR
(bot/ingest/ocr.py: rendered by PDFium, read by Tesseract), at most OCR_MAX_PAGES of
them and for at most OCR_DOCUMENT_SECONDS (the article is then partial, and the digest
says only part was read). One crafted page can keep pdfminer or PDFium busy for
minutes and grow by gigabytes; the worker's deadline, CPU and memory limits end it."""

from __future__ import annotations

from bot.domain import Article
from bot.readers.base import Input, Limits, Reader, deadline, out_of_memory
from bot.readers.text import article_of_text

# pages and seconds are bot/ingest/pdf.py's MAX_PAGES and MAX_SECONDS (a test checks),
# written out so the bot's process need not import pdfminer to know them; OCR's time
# (OCR_DOCUMENT_SECONDS + OCR_PAGE_SECONDS) is added to the deadline by reading.py
LIMITS = Limits(bytes=20 * 1024 * 1024, seconds=30, memory_mb=400, pages=200)


def read_pdf(inp: Input) -> Article:
    """The article in a PDF: trusted text layers, OCR for the other pages. Raises
    BadPdf, ScannedPdf, UnmappedPdf, ImplausiblePdf (no page readable, and no OCR
    here), SlowPdf, PdfBomb, SlowOcr, TextTooShort."""
    # pdfminer, PDFium, Pillow: loaded in the workers only
    from bot.ingest import ocr
    from bot.ingest.pdf import BadPdf, merge_pages, refusal, text_layer

    try:
        with deadline(inp.seconds):  # the text layer: the reader's own deadline
            layer = text_layer(inp.data)
            need = [i for i, page in enumerate(layer) if page.verdict != "good"]
    except BadPdf as exc:  # pdfminer chokes on it: PDFium may still draw its pages
        if out_of_memory(exc) or not ocr.available():
            raise
        try:
            count = ocr.pdf_page_count(inp.data)
        except ocr.BadImage:
            raise BadPdf("neither pdfminer nor PDFium can open it") from None
        layer, need = [], list(range(count))
    if not need or not ocr.available():
        text, sources = merge_pages(layer, {})
        if not text:  # nothing to pass on: say why (a scan, unmapped or garbled letters)
            raise refusal(layer)
        article = article_of_text(text)
        partial = article.partial or bool(need)  # pages left out: no OCR here
        return article.model_copy(update={"pdf_pages": sources, "partial": partial})
    found = ocr.pdf_pages_text(inp.data, need, inp.ocr or ocr.OcrLimits())
    text, sources = merge_pages(layer, found.by_page, len(layer) or len(need))
    if not text:  # OCR found nothing either: a scan of no text, or of a picture
        raise refusal(layer) if layer else BadPdf("PDFium draws no text in it")
    article = article_of_text(text)
    return article.model_copy(
        update={
            "partial": article.partial or bool(found.skipped),
            "pdf_pages": sources,
            "ocr_pages": found.pages,
            "ocr_seconds": found.seconds,
        }
    )


READER = Reader(
    name="pdf",
    read=read_pdf,
    limits=LIMITS,
    suffixes=("pdf",),
    mime_types=("application/pdf",),
    magic=(b"%PDF-",),
    ocr=True,
)
