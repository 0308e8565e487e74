"""The download limit of an uploaded document (the Bot API's getFile serves 20 MB).

Which reader reads a document, and its own limits, are the readers' (bot/readers/).
"""

from __future__ import annotations

from bot.errors import BadInput

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit


class DocumentTooLarge(BadInput):
    key = "document.too_large"


def check_size(size: int | None) -> None:
    """Refuse a document over MAX_DOCUMENT_BYTES before downloading it."""
    if size is not None and size > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"document of {size} bytes", limit_mb=20)
