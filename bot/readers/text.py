"""Plain text: pasted articles, `text/plain` links, and .txt / .md files.

The text goes through `extract_text` (clean-up, date, title, boilerplate rules). Only
the first 2 x `Limits.chars` characters are read (boilerplate removal rarely halves a
text; the article is then cut to `Limits.chars`), so a huge paste costs no more than a
long article.
"""

from __future__ import annotations

from bot.domain import Article
from bot.ingest.decode import decode_body
from bot.ingest.extract import extract_text
from bot.ingest.inputs import MAX_TEXT_BYTES
from bot.readers.base import Input, Limits, Reader, cut_text
from bot.readers.registry import UnsupportedDocument, supported

LIMITS = Limits(bytes=MAX_TEXT_BYTES, seconds=10, memory_mb=256)


def read_text(inp: Input) -> Article:
    """The article in plain text. Raises TextTooShort, UnsupportedDocument (binary
    data), UnsupportedContent (undecodable)."""
    text = inp.text
    if text is None:
        if b"\x00" in inp.data[:8192]:
            raise UnsupportedDocument("binary data in a text file", supported=supported())
        text, _ = decode_body(inp.data, None)
    return article_of_text(text)


def article_of_text(text: str) -> Article:
    """`extract_text` on the start of `text` that can make an article of at most
    LIMITS.chars characters; partial when the text was longer than that start."""
    head = cut_text(text, LIMITS.chars * 2)
    article = extract_text(head)
    if len(head) < len(text):
        article = article.model_copy(update={"partial": True})
    return article


READER = Reader(
    name="text",
    read=read_text,
    limits=LIMITS,
    suffixes=("txt", "text", "md", "markdown"),
    mime_types=("text/plain", "text/markdown"),
)
