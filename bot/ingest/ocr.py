"""Pictures to text: Tesseract 5 with the Arabic and English models (OCR).

Pure, synchronous functions with no state of their own, meant to run in a worker (a
thread of the OCR pool today, a bounded worker process of the reader registry later):

* `image_text(data, limits)`: the text in an image's bytes (PNG, JPEG, WebP, TIFF, BMP,
  GIF; the first frame), refused BEFORE decoding when its header says it has more than
  `limits.max_pixels` pixels (a 50,000 x 50,000 PNG is a few KB of zeros);
* `pdf_pages_text(data, indices, limits)`: the text of some pages of a PDF, each rendered
  by PDFium (pypdfium2) at `limits.dpi` and read the same way.

Why the `tesseract` program (as pytesseract runs it) and not the in-process tesserocr:
measured in bench/ocr.py (docs/benchmarks.md), the same engine reads at the same speed
either way, but a subprocess is one that `subprocess.run(timeout=...)` really kills: a
page that takes too long stops (SlowOcr) and its memory goes with the process, while a
C call inside our process cannot be interrupted. We call the program ourselves (image
on stdin, TSV on stdout: no temporary files), so pytesseract is not needed. Tesseract
runs single-threaded (OMP_THREAD_LIMIT=1): on a small server its OpenMP threads only
fight each other and the event loop's core.

The TSV output gives every word with its block, paragraph and line (in reading order:
right to left lines come out in logical order, a two-column clipping column by column)
and a confidence, which tells a photo with no text (a face, a meme's few words) from a
page: fewer than MIN_WORDS confident words is NoTextInImage.

Without the `tesseract` program (or its `ara` model) `available()` is False and reading
raises OcrUnavailable: the bot then says this server cannot read pictures.
"""

from __future__ import annotations

import ctypes
import functools
import io
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from bot.errors import BadInput

LANGUAGES = "ara+eng"
PRIMARY = "ara"  # the first reading; LANGUAGES read again where it is unsure
UNSURE = 60.0  # a word of the first reading under this is read again with LANGUAGES
SCREEN_DPI = 300  # the resolution Tesseract is told for a picture (bench/ocr.py)
# A word Tesseract is at least this sure of (0-100) counts as read; a picture with
# fewer than MIN_WORDS such words (a person, a meme) has no article text.
CONFIDENT = 60.0
MIN_WORDS = 8
LATIN_IN_ARABIC = 80.0  # a less sure Latin-only word in an Arabic line is a misreading
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
# Bidi marks Tesseract puts around Latin runs in Arabic lines (LRM/RLM/embeddings).
_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ARABIC = re.compile("[\u0600-\u06ff]")
_LATIN = re.compile("[A-Za-z]")
# pypdfium2 (PDFium) must not be entered from two threads at once; in a worker process
# (the reader registry) there is one thread and this lock is never contended.
_PDFIUM = threading.Lock()


@dataclass(frozen=True)
class OcrLimits:
    """The bounds of one reading (settings: OCR_MAX_PAGES, OCR_PAGE_SECONDS, ...)."""

    max_pixels: int = 40_000_000  # about 6,300 x 6,300: an A4 page at 600 dpi fits
    page_seconds: float = 60.0  # one page's tesseract run is killed after this
    document_seconds: float = 180.0  # no page starts after this much time in all
    max_pages: int = 20  # pages read by OCR in one document; the rest are skipped
    dpi: int = 200  # PDF pages are rendered at this resolution (bench/ocr.py: 200 > 300)


@dataclass
class OcrText:
    """What OCR read: the text (paragraphs separated by blank lines), the pages read,
    the seconds spent, and the 0-based indices of the pages left unread (page cap or
    time limit)."""

    text: str
    pages: int = 0
    seconds: float = 0.0
    skipped: list[int] = field(default_factory=list)
    by_page: dict[int, str] = field(default_factory=dict)


class OcrUnavailable(BadInput):
    """This server has no Tesseract (or no Arabic model for it)."""

    key = "ocr.unavailable"


class ImageTooLarge(BadInput):
    """The image has more pixels than OcrLimits.max_pixels (refused before decoding)."""

    key = "ocr.too_many_pixels"


class BadImage(BadInput):
    """The bytes are no image we can decode."""

    key = "ocr.unreadable"


class NoTextInImage(BadInput):
    """OCR found no article text (a photo of a person, a meme)."""

    key = "ocr.no_text"


class SlowOcr(BadInput):
    """A page took longer than OcrLimits.page_seconds to read, and was stopped."""

    key = "ocr.too_slow"


@functools.cache
def available() -> bool:
    """True when the `tesseract` program and its Arabic and English models are here."""
    exe = shutil.which("tesseract")
    if exe is None:
        return False
    try:
        done = subprocess.run(
            [exe, "--list-langs"], capture_output=True, timeout=20, check=False, text=True
        )
    except (OSError, subprocess.SubprocessError):
        return False
    langs = set(done.stdout.split()) | set(done.stderr.split())
    return {"ara", "eng"} <= langs


def image_size(data: bytes, max_pixels: int) -> tuple[int, int]:
    """The image's width and height from its header, without decoding it. Raises
    BadImage, or ImageTooLarge over `max_pixels`."""
    from PIL import UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            width, height = img.size
    except Image.DecompressionBombError:  # Pillow's own cap (far above ours) said no
        raise ImageTooLarge("over Pillow's pixel cap", megapixels=max_pixels // 1_000_000) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BadImage(f"not an image ({type(exc).__name__})") from None
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} pixels", megapixels=max_pixels // 1_000_000)
    return width, height


def load_image(data: bytes, max_pixels: int) -> Image.Image:
    """The image decoded as grayscale (EXIF rotation applied, first frame), after the
    header's size was checked against `max_pixels`. Raises BadImage / ImageTooLarge."""
    from PIL import ImageOps

    image_size(data, max_pixels)
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            img.seek(0)
            upright = ImageOps.exif_transpose(img)
            return (upright or img).convert("L")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"undecodable image ({type(exc).__name__})") from None


SMALL_LINES = 18  # px: a picture whose text lines are lower than this is upscaled twice
UPSCALED_PIXELS = 16_000_000  # ... unless it would then be larger than this


def prepare(img: Image.Image) -> Image.Image:
    """The image as Tesseract is given it: grayscale (load_image), upscaled twice when
    its text is small (lines under SMALL_LINES px: a screenshot Telegram shrank).
    Measured in bench/ocr.py: binarizing loses (0.88 -> 0.75 bigram F1 on 14 px
    text); upscaling twice gains on small text (0.88 -> 0.93 at 14 px), little at 18
    or 22 px (0.99 -> 1.00 on two condensed 18 px pages, for twice the time) and
    nothing on photos: done for small text only."""
    height = line_height(img)
    if height is None or height >= SMALL_LINES or img.width * img.height * 4 > UPSCALED_PIXELS:
        return img
    return img.resize((img.width * 2, img.height * 2), Image.Resampling.LANCZOS)


def line_height(img: Image.Image) -> int | None:
    """The median height in pixels of the picture's lines of ink (rows with ink between
    blank rows), or None when it has fewer than 3 such lines."""
    from PIL import ImageOps

    ink = ImageOps.autocontrast(img.convert("L")).point(lambda v: 255 if v < 128 else 0)
    rows = ink.resize((1, img.height), Image.Resampling.BOX).tobytes()
    heights: list[int] = []
    run = 0
    for value in [*rows, 0]:
        if value:
            run += 1
        elif run:
            if run > 2:  # a speck or a rule is no line
                heights.append(run)
            run = 0
    if len(heights) < 3:
        return None
    return sorted(heights)[len(heights) // 2]


@dataclass
class Word:
    """One word of Tesseract's TSV: where it sits (page, block, paragraph, line), its
    text, its confidence (0-100) and its box (left, top, right, bottom in pixels)."""

    line: tuple[int, int, int, int]
    text: str
    conf: float
    box: tuple[int, int, int, int]


def recognize(
    img: Image.Image, seconds: float, dpi: int | None = SCREEN_DPI, languages: str = LANGUAGES
) -> tuple[str, int]:
    """The text Tesseract reads in `img` (a PIL image) and its count of confident words,
    column by column when the picture has columns (`columns`: Tesseract alone joins
    the lines of a two-column clipping across its gutter), the right column first when
    the text is Arabic. Killed after `seconds` in all (SlowOcr). Raises OcrUnavailable."""
    boxes = columns(img)
    if len(boxes) == 1:
        return _recognize_block(img, seconds, dpi, languages)
    started = time.monotonic()
    read: list[tuple[str, int]] = []
    for box in boxes:
        left = seconds - (time.monotonic() - started)
        if left <= 0:
            raise SlowOcr(f"OCR over {seconds:.0f} s", seconds=round(seconds))
        read.append(_recognize_block(img.crop(box), left, dpi, languages))
    text = "\n\n".join(t for t, _ in read if t)
    arabic = len(_ARABIC.findall(text)) > len(_LATIN.findall(text))
    ordered = reversed(read) if arabic else iter(read)  # boxes run left to right
    return "\n\n".join(t for t, _ in ordered if t), sum(n for _, n in read)


GUTTER = 0.03  # a blank band at least this share of the picture's width parts columns
COLUMN = 0.15  # ... when each column it leaves is at least this share of the ink's width


def columns(img: Image.Image) -> list[tuple[int, int, int, int]]:
    """The boxes (left, top, right, bottom) of `img`'s columns, left to right: the page
    is cut at each blank vertical band (no ink from the top of the text to its foot)
    at least GUTTER of its width wide between columns at least COLUMN of the ink's
    width. One box, the whole picture, when it has no such band (a heading across
    the columns hides the gutter: then Tesseract's own layout analysis decides)."""
    from PIL import ImageOps

    whole = (0, 0, img.width, img.height)
    ink = ImageOps.autocontrast(img.convert("L")).point(lambda v: 255 if v < 128 else 0)
    bbox = ink.getbbox()
    if bbox is None or img.width < 200:
        return [whole]
    left, top, right, bottom = bbox
    if bottom - top < 40:  # a line or two: no columns
        return [whole]
    profile = ink.crop(bbox).resize((right - left, 1), Image.Resampling.BOX).tobytes()
    blank = [v <= 1 for v in profile]  # no more than a speck of ink in that pixel column
    gutter = max(8, int(img.width * GUTTER))
    least = (right - left) * COLUMN
    cuts: list[int] = []
    x = 0
    while x < len(blank):
        if not blank[x]:
            x += 1
            continue
        end = x
        while end < len(blank) and blank[end]:
            end += 1
        start_prev = cuts[-1] - left if cuts else 0
        if end - x >= gutter and x - start_prev >= least and len(blank) - end >= least:
            cuts.append(left + (x + end) // 2)
        x = end
    if not cuts:
        return [whole]
    edges = [0, *cuts, img.width]
    return [(a, 0, b, img.height) for a, b in itertools.pairwise(edges)]


def _recognize_block(
    img: Image.Image, seconds: float, dpi: int | None = SCREEN_DPI, languages: str = LANGUAGES
) -> tuple[str, int]:
    """The text Tesseract reads in one column `img` and its count of confident words.

    Two passes, measured in bench/ocr.py: the Arabic model alone reads Arabic best (the
    English model beside it turns some Arabic words into Latin letters: clean
    screenshots 0.918 -> 0.952 bigram F1, and faster); where it is unsure (a word under
    UNSURE: a Latin word, an English line), `languages` (Arabic and English) read the
    picture again and their reading replaces those words where it is surer. `dpi` tells
    Tesseract the picture's resolution (a screenshot has none: SCREEN_DPI; None: it
    guesses, as for PDF pages). The
    programs are killed after `seconds` in all (SlowOcr). Raises OcrUnavailable."""
    started = time.monotonic()
    first = run_tesseract(img, seconds, dpi, PRIMARY)
    if any(w.conf < UNSURE for w in first) and languages != PRIMARY:
        left = seconds - (time.monotonic() - started)
        if left <= 0:
            raise SlowOcr(f"OCR over {seconds:.0f} s", seconds=round(seconds))
        first = merge_readings(first, run_tesseract(img, left, dpi, languages))
    return words_text(first)


def run_tesseract(img: Image.Image, seconds: float, dpi: int | None, languages: str) -> list[Word]:
    """The words the `tesseract` program reads in `img` with `languages`, killed after
    `seconds` (SlowOcr). Raises OcrUnavailable, BadImage."""
    exe = shutil.which("tesseract")
    if exe is None or not available():
        raise OcrUnavailable("tesseract is not installed")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    hint = ["--dpi", str(dpi)] if dpi else []  # else Tesseract guesses from the letters
    args = [exe, "stdin", "stdout", "-l", languages, "--psm", "3", *hint, "tsv"]
    try:
        done = subprocess.run(
            args,
            input=buf.getvalue(),
            capture_output=True,
            timeout=max(1.0, seconds),
            env=env,
            check=False,
            preexec_fn=die_with_parent(),
        )
    except subprocess.TimeoutExpired:  # run() has killed and reaped it
        raise SlowOcr(f"OCR over {seconds:.0f} s", seconds=round(seconds)) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[-200:]
        raise BadImage(f"tesseract failed ({done.returncode}): {detail}")
    return tsv_words(done.stdout.decode("utf-8", "replace"))


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGKILL the child when the process that
    started it dies (Linux `prctl(PR_SET_PDEATHSIG)`): a reader worker killed at its
    deadline, by its CPU limit or by running out of memory takes its tesseract with it
    instead of leaving it to run for its own page time. None (no preexec) off Linux and
    in a process with several threads (the bot's, a test's), where running Python
    between fork and exec is unsafe; the reader workers have one thread."""
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return None
    parent = os.getpid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os._exit(1)

    return preexec


_PR_SET_PDEATHSIG = 1


def merge_readings(first: list[Word], second: list[Word]) -> list[Word]:
    """`first` (the Arabic model's words, in reading order) with what it was unsure of
    replaced by `second`'s words whose centres lie there, when those are at least
    CONFIDENT and 10 points surer on average: a line mostly unsure (an English line
    read as Arabic) as a whole, in `second`'s order; else each run of unsure words."""
    used: set[int] = set()
    out: list[Word] = []
    by_line: dict[tuple[int, int, int, int], list[Word]] = {}
    for w in first:
        by_line.setdefault(w.line, []).append(w)
    for line in by_line.values():
        unsure = sum(1 for w in line if w.conf < UNSURE)
        if 2 * unsure > len(line):
            out += _replaced(line, second, used)
            continue
        i = 0
        while i < len(line):
            if line[i].conf >= UNSURE:
                out.append(line[i])
                i += 1
                continue
            j = i
            while j < len(line) and line[j].conf < UNSURE:
                j += 1
            out += _replaced(line[i:j], second, used)
            i = j
    return out


def _replaced(run: list[Word], second: list[Word], used: set[int]) -> list[Word]:
    """`run` or, when surer, the unused words of `second` inside its box."""
    left = min(w.box[0] for w in run)
    top = min(w.box[1] for w in run)
    right = max(w.box[2] for w in run)
    bottom = max(w.box[3] for w in run)
    found = [
        n
        for n, w in enumerate(second)
        if n not in used
        and left <= (w.box[0] + w.box[2]) / 2 <= right
        and top <= (w.box[1] + w.box[3]) / 2 <= bottom
    ]
    mean = sum(w.conf for w in run) / len(run)
    if not found or sum(second[n].conf for n in found) / len(found) < max(CONFIDENT, mean + 10):
        return run
    used.update(found)
    return [Word(run[0].line, second[n].text, second[n].conf, second[n].box) for n in found]


def tsv_words(tsv: str) -> list[Word]:
    """Tesseract's TSV as its words, in its reading order (bidi marks taken out, an
    Arabic word's Latin comma made an Arabic one)."""
    words: list[Word] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = _MARKS.sub("", cols[11]).strip()
        if not word:
            continue
        if word.endswith(",") and _ARABIC.search(word):
            word = word[:-1] + "\u060c"  # an Arabic comma read as a Latin one
        try:
            conf = float(cols[10])
            page, block, par, line = (int(c) for c in cols[1:5])
            left, top, width, height = (int(c) for c in cols[6:10])
        except ValueError:
            continue
        words.append(
            Word((page, block, par, line), word, conf, (left, top, left + width, top + height))
        )
    return words


def tsv_text(tsv: str) -> tuple[str, int]:
    """Tesseract's TSV as text and its number of confident words (see words_text)."""
    return words_text(tsv_words(tsv))


def words_text(words: list[Word]) -> tuple[str, int]:
    """Words joined into lines, lines into paragraphs (one per line of output, a blank
    line between), and the number of confident words. In a line with Arabic words, a
    Latin-only word Tesseract is under LATIN_IN_ARABIC sure of is dropped: it is how
    the English model misreads Arabic letters (measured in bench/ocr.py; real English
    names in Arabic lines are read at 90 and more)."""
    paragraphs: dict[tuple[int, int, int], list[list[tuple[str, float]]]] = {}
    lines: dict[tuple[int, int, int, int], list[tuple[str, float]]] = {}
    confident = 0
    for w in words:
        if w.conf >= CONFIDENT and any(ch.isalpha() for ch in w.text):
            confident += 1
        if w.line not in lines:
            lines[w.line] = []
            paragraphs.setdefault(w.line[:3], []).append(lines[w.line])
        lines[w.line].append((w.text, w.conf))
    return "\n\n".join(
        " ".join(_line(words) for words in para) for para in paragraphs.values()
    ), confident


def _line(words: list[tuple[str, float]]) -> str:
    arabic = any(_ARABIC.search(w) for w, _ in words)
    return " ".join(
        w
        for w, conf in words
        if not (arabic and conf < LATIN_IN_ARABIC and _LATIN.search(w) and not _ARABIC.search(w))
    )


def image_text(data: bytes, limits: OcrLimits) -> OcrText:
    """The text in an image's bytes. Raises OcrUnavailable, BadImage, ImageTooLarge,
    SlowOcr, or NoTextInImage (no article text in the picture)."""
    if not available():
        raise OcrUnavailable("tesseract is not installed")
    start = time.monotonic()
    img = prepare(load_image(data, limits.max_pixels))
    text, confident = recognize(img, min(limits.page_seconds, limits.document_seconds))
    seconds = time.monotonic() - start
    if confident < MIN_WORDS:
        raise NoTextInImage(f"{confident} confident words")
    return OcrText(text, pages=1, seconds=seconds, by_page={0: text})


def pdf_pages_text(data: bytes, indices: list[int], limits: OcrLimits) -> OcrText:
    """The OCR text of the PDF's pages `indices` (0-based, in that order), each rendered
    at `limits.dpi` (less when the page would pass `limits.max_pixels`). At most
    `limits.max_pages` are read, and no page starts after `limits.document_seconds`;
    the pages left are in `skipped`. Raises OcrUnavailable, BadImage, SlowOcr."""
    if not available():
        raise OcrUnavailable("tesseract is not installed")
    start = time.monotonic()
    out = OcrText("")
    for n, index in enumerate(indices):
        left = limits.document_seconds - (time.monotonic() - start)
        if n >= limits.max_pages or left <= 0:
            out.skipped = indices[n:]
            break
        img = render_page(data, index, limits)
        # no dpi hint: told its true 200 dpi, Tesseract missed a page's one short line
        text, _ = recognize(img, min(limits.page_seconds, left), dpi=None)
        out.by_page[index] = text
        out.pages += 1
    out.seconds = time.monotonic() - start
    out.by_page = drop_running_lines(out.by_page)
    out.text = "\n\n".join(t for t in out.by_page.values() if t)
    return out


RUNNING_EDGE = 2  # paragraphs at a page's top and at its foot that may be running ones
RUNNING_CHARS = 120  # a longer paragraph is text, not a running head or foot
_NOT_KEY = re.compile(r"[\W\d_]+")
_PAGE_NUMBER = re.compile(
    r"^[\W_]*(?:(?:page|p\.?|صفحة|الصفحة|ص)\W*)?\d+(?:\W*(?:of|/|من)\W*\d+)?[\W_]*$", re.I
)


def drop_running_lines(pages: dict[int, str]) -> dict[int, str]:
    """`pages` (OCR text of a document's pages, paragraphs split by blank lines) without
    their running heads and feet: among the first and last RUNNING_EDGE paragraphs of
    each page, a short one that comes back on at least two pages and on half of them
    (compared without digits, punctuation, tashkeel or letter forms: page numbers and
    OCR's small misreadings differ) or that is only a page number. A one-page document
    is left as it is."""
    if len(pages) < 2:
        return pages
    from bot.ingest.arabic import normalize_for_match

    def key(para: str) -> str:
        return _NOT_KEY.sub("", normalize_for_match(para))

    split = {n: [p for p in text.split("\n\n") if p.strip()] for n, text in pages.items()}
    edges: dict[int, set[int]] = {}
    for n, paras in split.items():
        ends = set(range(min(RUNNING_EDGE, len(paras))))
        ends |= set(range(max(0, len(paras) - RUNNING_EDGE), len(paras)))
        edges[n] = {i for i in ends if len(paras[i]) <= RUNNING_CHARS}
    seen: dict[str, int] = {}
    for n, paras in split.items():
        for k in {key(paras[i]) for i in edges[n]}:
            if k:
                seen[k] = seen.get(k, 0) + 1
    running = {k for k, count in seen.items() if count >= max(2, len(pages) / 2)}
    out: dict[int, str] = {}
    for n, paras in split.items():
        kept = [
            p
            for i, p in enumerate(paras)
            if i not in edges[n]
            or not (key(p) in running or _PAGE_NUMBER.match(normalize_for_match(p)))
        ]
        out[n] = "\n\n".join(kept)
    return out


def render_page(data: bytes, index: int, limits: OcrLimits) -> Image.Image:
    """Page `index` of the PDF as a grayscale PIL image at `limits.dpi`, scaled down so
    it stays under `limits.max_pixels`."""
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise BadImage(f"PDFium cannot open it ({exc})") from None
        try:
            page = pdf[index]
            width, height = page.get_size()  # points (1/72 in)
            scale = limits.dpi / 72
            pixels = width * scale * height * scale
            if pixels > limits.max_pixels:
                scale *= (limits.max_pixels / pixels) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True)
            image: Image.Image = bitmap.to_pil().convert("L")
            return image
        finally:
            pdf.close()


def pdf_page_count(data: bytes) -> int:
    """How many pages PDFium finds in the PDF. Raises BadImage when it cannot open it."""
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise BadImage(f"PDFium cannot open it ({exc})") from None
        try:
            return len(pdf)
        finally:
            pdf.close()
