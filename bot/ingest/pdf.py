"""PDF bytes to text in reading order (pdfminer.six for the glyphs, our own ordering).

Why pdfminer.six: measured on the real Arabic PDFs in tests/fixtures/real/pdfs (see
bench/extract.py and docs/benchmarks.md), pypdf and PyMuPDF put words out of order and
misplace numbers, PyMuPDF splits lam-alef, and pdfminer's own text output is visual
order. pdfminer.six (MIT) does give every glyph with its position and its ToUnicode
text, which is all bot/ingest/pdf_layout.py needs to rebuild logical order itself.

Lines that repeat at the top or bottom of most pages (running headers, footers, page
numbers) are removed. A PDF with no text layer raises ScannedPdf.

Each page's text layer is judged before it is used (`text_layer`, `page_verdict`): a
page with no text, with glyphs whose fonts map no letters (U+FFFD, U+FFFF, private-use
code points, "(cid:N)"), or whose letters are not Arabic or English words (a font
encoding that maps glyphs to wrong letters; bot/ingest/plausible.py) is not passed on.
The caller reads those pages by OCR (bot/ingest/ocr.py) and `merge_pages` puts the
trusted text and the OCR text back together in page order.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.errors import BadInput
from bot.ingest import pdf_streams
from bot.ingest.pdf_layout import (
    SENTENCE_END,
    SOFT_BREAK,
    Glyph,
    Line,
    group_lines,
    line_text,
    page_lines,
    page_rtl,
)
from bot.ingest.plausible import UNMAPPED, plausible, unmapped_share

log = logging.getLogger(__name__)
# pdfminer warns for every odd font of a user's file; those are not our problems to log
logging.getLogger("pdfminer").setLevel(logging.ERROR)

MAX_PAGES = 200
# Counted as pdfminer draws them (one page's single text run can hold millions, and
# each costs about 1 KB until the page is done: 200,000 took 196 MB). 250,000 glyphs
# are more than a digest reads (SUMMARY_MAX_PARTS x LLM_MAX_INPUT_TOKENS is about
# 200,000 characters at the defaults); the rest of a bigger file is not read.
MAX_GLYPHS = 250_000
# a crafted PDF (huge content streams, deep forms) can keep pdfminer busy for minutes:
# past this many seconds, checked between pages, the reading stops with SlowPdf
MAX_SECONDS = 30
EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be running heads

_PAGE_NUMBER = re.compile(
    r"^[\W_]*((page|p\.|صفحة|الصفحة|ص)\s*)?[0-9٠-٩۰-۹]+(\s*(of|/|من|-)\s*[0-9٠-٩۰-۹]+)?[\W_]*$",
    re.I,
)
_DIGITS = re.compile(r"[0-9٠-٩۰-۹]+")


class ScannedPdf(BadInput):
    """The PDF has no text layer (a scanned image)."""

    key = "document.scanned"


class UnmappedPdf(BadInput):
    """The PDF draws text with fonts that carry no character mapping ("(cid:12)")."""

    key = "document.unmapped"


class SlowPdf(BadInput):
    """Reading the PDF took longer than MAX_SECONDS."""

    key = "document.too_slow"


class PdfBomb(BadInput):
    """The PDF's streams unpack to more than MAX_UNPACKED_BYTES (a decompression bomb)."""

    key = "document.unpacked_too_large"


class BadPdf(BadInput):
    """The PDF cannot be read (damaged, or protected by a password)."""

    key = "document.unreadable"


def _glyphs(layout: object, height: float) -> list[Glyph]:
    """The page's glyphs in content-stream order (top-left origin)."""
    from pdfminer.layout import LTChar, LTContainer

    out: list[Glyph] = []
    stack = [layout]
    while stack:
        item = stack.pop()
        if isinstance(item, LTChar):
            text = item.get_text()
            if text:
                top, bottom = height - item.y1, height - item.y0
                out.append(Glyph(text, item.x0, item.x1, top, bottom, item.size, len(out)))
        elif isinstance(item, LTContainer):
            stack.extend(reversed(list(item)))
    return out


def read_glyphs(
    data: bytes, *, max_seconds: float = MAX_SECONDS, clock: Callable[[], float] = time.monotonic
) -> list[list[Glyph]]:
    """Every page's glyphs (top-left origin). Raises BadPdf; SlowPdf when the pages read
    so far took over `max_seconds` (by `clock`, checked before each page); PdfBomb when
    its streams unpack to over MAX_UNPACKED_BYTES (bot/ingest/pdf_streams.py)."""
    pages: list[list[Glyph]] = []
    try:
        with pdf_streams.budget():
            _read_pages(data, pages, max_seconds, clock)
    except SlowPdf:
        log.warning("PDF reading stopped after %d pages: too slow", len(pages))
        raise
    except pdf_streams.UnpackedTooLarge as exc:
        log.warning("PDF refused: %s", exc)
        raise PdfBomb(str(exc), limit_mb=pdf_streams.MAX_UNPACKED_BYTES >> 20) from None
    except Exception as exc:  # pdfminer raises many kinds for damaged/encrypted files
        log.info("unreadable PDF: %s", type(exc).__name__)
        raise BadPdf(f"unreadable PDF ({type(exc).__name__})") from exc
    return pages


def _read_pages(
    data: bytes, pages: list[list[Glyph]], max_seconds: float, clock: Callable[[], float]
) -> None:
    """Append each page's glyphs to `pages` (up to MAX_PAGES / MAX_GLYPHS)."""
    from pdfminer.layout import LTPage
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    capped = _capped_aggregator()
    pdf_streams.install()
    manager = PDFResourceManager()
    device = capped(manager, MAX_GLYPHS)
    interpreter = PDFPageInterpreter(manager, device)
    start = clock()
    for page in PDFPage.get_pages(io.BytesIO(data), maxpages=MAX_PAGES):
        if clock() - start > max_seconds:
            raise SlowPdf(f"over {max_seconds} s after {len(pages)} pages", seconds=max_seconds)
        try:
            interpreter.process_page(page)
        except _EnoughGlyphs:  # keep what the page drew so far, read no further
            stack = getattr(device, "_stack", None)
            layout = stack[0] if stack else device.cur_item
            pages.append(_glyphs(layout, layout.height))
            log.info("PDF cut at %d glyphs", MAX_GLYPHS)
            return
        layout = device.get_result()
        assert isinstance(layout, LTPage)
        pages.append(_glyphs(layout, layout.height))


class _EnoughGlyphs(Exception):
    pass


def _capped_aggregator() -> type:
    from pdfminer.converter import PDFPageAggregator

    class CappedAggregator(PDFPageAggregator):
        """pdfminer's page aggregator that stops after `limit` glyphs in all."""

        def __init__(self, manager: Any, limit: int) -> None:
            super().__init__(manager, laparams=None)
            self.left = limit

        def render_char(self, *args: Any, **kwargs: Any) -> float:
            self.left -= 1
            if self.left < 0:
                raise _EnoughGlyphs
            return float(super().render_char(*args, **kwargs))

    return CappedAggregator


def _key(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.split()))


def running_lines(pages: list[list[str]]) -> list[set[int]]:
    """For each page, the indices of its running lines: page numbers, and lines that
    repeat (digits aside) at the top or the bottom of most pages, up to EDGE_LINES at
    each end. A single-page document has none."""
    drop: list[set[int]] = [set() for _ in pages]
    if len(pages) < 2:
        return drop
    need = max(2, (len(pages) + 1) // 2)
    for from_end in (False, True):
        for _depth in range(EDGE_LINES):
            picked = []
            for lines, gone in zip(pages, drop, strict=True):
                order = [i for i in range(len(lines)) if i not in gone]
                order = order[::-1] if from_end else order
                picked.append(order[0] if order else None)
            keys = Counter(_key(p[i]) for p, i in zip(pages, picked, strict=True) if i is not None)
            found = False
            for lines, gone, i in zip(pages, drop, picked, strict=True):
                if i is not None and (keys[_key(lines[i])] >= need or _PAGE_NUMBER.match(lines[i])):
                    gone.add(i)
                    found = True
            if not found:
                break
    return drop


def drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """`pages` without their running lines (see running_lines)."""
    drop = running_lines(pages)
    return [[x for i, x in enumerate(p) if i not in d] for p, d in zip(pages, drop, strict=True)]


def pdf_pages(glyph_pages: list[list[Glyph]]) -> list[list[str]]:
    """The lines of each page in reading order, running heads removed first (by the
    page's full-width lines, before columns are split)."""
    pages: list[list[Line]] = [group_lines(glyphs) for glyphs in glyph_pages]
    texts = [[line_text(x, hint_rtl=page_rtl(lines)) for x in lines] for lines in pages]
    drop = running_lines(texts)
    return [
        page_lines([x for i, x in enumerate(lines) if i not in gone])
        for lines, gone in zip(pages, drop, strict=True)
    ]


def paragraphs(pages: list[list[str]]) -> list[str]:
    """Lines joined into paragraphs (an empty line starts a new one; a page break
    does not, so a paragraph running onto the next page stays whole)."""
    out: list[list[str]] = [[]]
    for lines in pages:
        for line in lines:
            ended = bool(out[-1]) and out[-1][-1].endswith(SENTENCE_END)
            if (not line or (line == SOFT_BREAK and ended)) and out[-1]:
                out.append([])
            elif line.strip():
                out[-1].append(line)
    return [" ".join(p) for p in out if p]


class ImplausiblePdf(BadInput):
    """The PDF's text layer gives letters that are not words (a broken font encoding)."""

    key = "document.garbled"


Verdict = Literal["good", "empty", "unmapped", "implausible"]
# what was read of each page: its text layer, OCR, or nothing (refused, or past a limit)
PageSource = Literal["text", "ocr", "none"]


@dataclass(frozen=True)
class LayerPage:
    """One page's text layer (lines in reading order) and whether it can be trusted."""

    lines: list[str]
    verdict: Verdict


def page_verdict(lines: list[str], glyphs: list[Glyph]) -> Verdict:
    """Whether a page's text layer can be passed on: "good", or why not ("empty": no
    text, a scan; "unmapped": glyphs with no letters; "implausible": letters that are
    not Arabic or English words)."""
    text = "\n".join(lines)
    if not text.strip():
        return "unmapped" if any(g.text.strip() for g in glyphs) else "empty"
    if unmapped_share(text) > UNMAPPED:
        return "unmapped"
    if not plausible(text):
        return "implausible"
    return "good"


def text_layer(data: bytes) -> list[LayerPage]:
    """Every page's text layer with its verdict. Raises BadPdf, SlowPdf, PdfBomb."""
    glyph_pages = read_glyphs(data)
    pages = pdf_pages(glyph_pages)
    return [
        LayerPage(lines, page_verdict(lines, glyphs))
        for lines, glyphs in zip(pages, glyph_pages, strict=True)
    ]


def merge_pages(
    layer: list[LayerPage], ocr: dict[int, str], page_count: int | None = None
) -> tuple[str, list[PageSource]]:
    """The document's text from the trusted text layers and the OCR text of the other
    pages (by 0-based index), in page order, and which of the two each page gave.
    `page_count` covers pages pdfminer could not read at all (OCR only)."""
    count = max(len(layer), page_count or 0, max(ocr, default=-1) + 1)
    pages: list[list[str]] = []
    sources: list[PageSource] = []
    for i in range(count):
        page = layer[i] if i < len(layer) else None
        if page is not None and page.verdict == "good":
            pages.append(page.lines)
            sources.append("text")
        elif ocr.get(i, "").strip():
            lines: list[str] = []
            for para in ocr[i].split("\n\n"):
                lines.extend([para, ""])
            pages.append(lines)
            sources.append("ocr")
        else:
            sources.append("none")
    return "\n\n".join(paragraphs(pages)), sources


def refusal(layer: list[LayerPage]) -> BadInput:
    """The error for a PDF none of whose pages could be read without OCR."""
    verdicts = {p.verdict for p in layer}
    if "implausible" in verdicts:
        return ImplausiblePdf("the PDF's text layer is not words")
    if "unmapped" in verdicts:
        return UnmappedPdf("the PDF's fonts map no glyph to a character")
    return ScannedPdf("the PDF has no text layer")


def pdf_to_text(data: bytes) -> str:
    """The PDF's trusted text layer in reading order, one paragraph per line,
    paragraphs separated by a blank line (pages that cannot be trusted left out).
    Raises BadPdf (unreadable), ScannedPdf (no text layer), UnmappedPdf (glyphs whose
    fonts do not say which letters they are) or ImplausiblePdf (letters, not words)."""
    layer = text_layer(data)
    text, _ = merge_pages(layer, {})
    if not text:
        raise refusal(layer)
    return text
