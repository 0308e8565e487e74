"""Pictures (PNG, JPEG, WebP, TIFF; GIF and BMP too): a screenshot or a photo of an article, read by
OCR (bot/ingest/ocr.py: Tesseract, Arabic and English). The pixel cap is checked from
the file's header before anything is decoded; the tesseract program is stopped after
OCR_PAGE_SECONDS; the worker's deadline, CPU and memory limits bound the rest (and the
tesseract process inherits the CPU and memory limits). Without Tesseract on the server
a picture gets OcrUnavailable ("this server cannot read pictures")."""

from __future__ import annotations

from bot.domain import Article
from bot.readers.base import Input, Limits, Reader, deadline
from bot.readers.text import article_of_text

# seconds: decoding and preparing the picture; OCR's own time (OCR_PAGE_SECONDS) is
# added to the deadline by bot/readers/reading.py
LIMITS = Limits(bytes=20 * 1024 * 1024, seconds=15, memory_mb=400, pages=1)


def read_image(inp: Input) -> Article:
    """The article in a picture. Raises OcrUnavailable, BadImage, ImageTooLarge,
    SlowOcr, NoTextInImage, TextTooShort."""
    from bot.ingest import ocr  # Pillow and the tesseract program: in the workers only

    limits = inp.ocr or ocr.OcrLimits()
    with deadline(None if inp.seconds is None else inp.seconds + limits.page_seconds):
        found = ocr.image_text(inp.data, limits)
    article = article_of_text(found.text)
    return article.model_copy(update={"ocr_pages": found.pages, "ocr_seconds": found.seconds})


READER = Reader(
    name="image",
    read=read_image,
    limits=LIMITS,
    suffixes=("png", "jpg", "jpeg", "webp", "tif", "tiff", "gif", "bmp"),
    mime_types=("image/png", "image/jpeg", "image/webp", "image/tiff", "image/gif", "image/bmp"),
    magic=(b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8"),
    label="PNG, JPEG, WebP, TIFF",
    ocr=True,
)
