"""Web pages: HTML from a link, a feed entry or an uploaded .html file.

trafilatura finds the article (`extract_html`). An uploaded file is decoded by its
bytes (BOM, `<meta charset>`, detection); a fetched page arrives already decoded.
"""

from __future__ import annotations

from bot.domain import Article
from bot.ingest.decode import decode_body
from bot.ingest.extract import extract_html
from bot.readers.base import Input, Limits, Reader

LIMITS = Limits(bytes=5 * 1024 * 1024, seconds=10, memory_mb=384)


def read_page(inp: Input) -> Article:
    """The article on an HTML page. Raises NotAnArticle, UnsupportedContent."""
    text = inp.text
    if text is None:
        text, _ = decode_body(inp.data, None)
    article = extract_html(text, inp.url)
    return article.model_copy(update={"url": inp.url})


READER = Reader(
    name="page",
    read=read_page,
    limits=LIMITS,
    suffixes=("html", "htm", "xhtml"),
    mime_types=("text/html", "application/xhtml+xml"),
)
