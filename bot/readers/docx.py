"""Word documents (.docx): a zip of XML read by its central directory
(bot/ingest/docx.py), then the plain-text rules."""

from __future__ import annotations

from bot.domain import Article
from bot.readers.base import Input, Limits, Reader
from bot.readers.text import article_of_text

# entries is bot/ingest/docx.py's MAX_ENTRIES (a test checks), written out so the bot's
# process need not import lxml to know it
LIMITS = Limits(bytes=20 * 1024 * 1024, seconds=20, memory_mb=400, entries=2000)


def read_docx(inp: Input) -> Article:
    """The article in a .docx. Raises BadDocx, TextTooShort."""
    from bot.ingest.docx import docx_text  # lxml: loaded in the workers only

    return article_of_text(docx_text(inp.data))


READER = Reader(
    name="docx",
    read=read_docx,
    limits=LIMITS,
    suffixes=("docx",),
    mime_types=("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    magic=(b"PK\x03\x04",),
)
