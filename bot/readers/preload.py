"""Imported once by the readers' forkserver (bot/readers/pool.py), so every worker it
forks has the readers and their libraries loaded and warm: trafilatura alone takes
about a second to import, and the first page read compiles dateparser's locales
(several seconds of CPU)."""

from __future__ import annotations

import contextlib

import lxml.html  # noqa: F401
import pdfminer.converter
import pdfminer.pdfinterp  # noqa: F401
import PIL.Image  # noqa: F401
import pypdfium2  # noqa: F401  (its library mapped here, not under a worker's RLIMIT_AS)
import trafilatura  # noqa: F401

import bot.ingest.ocr
import bot.readers.worker  # noqa: F401
from bot.readers.registry import readers

readers()


def _warm() -> None:
    """Read a small page and text once, so the rules, language data and parsers that
    load on first use are loaded here, shared by every worker."""
    from bot.errors import DigestBotError
    from bot.readers.base import Input
    from bot.readers.page import read_page
    from bot.readers.text import read_text

    body = "هذه جملة عربية عن الاقتصاد والسياسة في المنطقة. This is an English sentence. " * 8
    html = (
        f"<html><head><title>t</title></head><body><article><p>{body}</p></article></body></html>"
    )
    for read, inp in ((read_text, Input(text=body)), (read_page, Input(text=html))):
        with contextlib.suppress(DigestBotError):
            read(inp)
    # htmldate hands undated text to dateparser, which compiles a regex per locale (200+)
    # the first time: seconds of CPU that every worker would pay again on its first page
    with contextlib.suppress(Exception):
        from htmldate.extractors import get_external_parser

        get_external_parser().get_date_data("مقال عن الاقتصاد article")


_warm()
