"""PDF documents, uploaded or linked: text in reading order (bot/ingest/pdf.py), then
the plain-text rules. One crafted page can keep pdfminer busy for minutes and grow by
gigabytes; the worker's deadline, CPU and memory limits end it."""

from __future__ import annotations

from bot.domain import Article
from bot.readers.base import Input, Limits, Reader
from bot.readers.text import article_of_text

# pages and seconds are bot/ingest/pdf.py's MAX_PAGES and MAX_SECONDS (a test checks),
# written out so the bot's process need not import pdfminer to know them
LIMITS = Limits(bytes=20 * 1024 * 1024, seconds=30, memory_mb=400, pages=200)


def read_pdf(inp: Input) -> Article:
    """The article in a PDF. Raises BadPdf, ScannedPdf, UnmappedPdf, SlowPdf, PdfBomb,
    TextTooShort."""
    from bot.ingest.pdf import pdf_to_text  # pdfminer: loaded in the workers only

    return article_of_text(pdf_to_text(inp.data))


READER = Reader(
    name="pdf",
    read=read_pdf,
    limits=LIMITS,
    suffixes=("pdf",),
    mime_types=("application/pdf",),
    magic=(b"%PDF-",),
)
