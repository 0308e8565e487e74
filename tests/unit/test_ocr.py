"""OCR core (bot/ingest/ocr.py), the PDF page verdict (bot/ingest/pdf.py) and the
picture and PDF readers (bot/readers/image.py, pdf.py; in a worker process through
`Readers`, and in-process) on pictures drawn in the test and on the
committed scanned and broken-encoding PDFs (tests/fixtures/ocr/, made by
tests/fixtures/make_ocr_pdfs.py). Tests that run Tesseract are skipped, saying so, on a
machine without it (.ci/run installs it)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from bot import metrics
from bot.ingest import ocr
from bot.ingest.overlap import bigram_f1
from bot.ingest.pdf import (
    ImplausiblePdf,
    LayerPage,
    merge_pages,
    page_verdict,
    pdf_to_text,
    text_layer,
)
from bot.ingest.plausible import plausible, unmapped_share
from bot.readers import Input, Readers
from bot.readers.pdf import read_pdf
from bot.readers.pool import Stopped, WorkerPool
from tests.fakes.images import encode, photographed, render_text

FIXTURES = Path(__file__).parents[1] / "fixtures"
SCANNED = FIXTURES / "ocr" / "scanned-ar.pdf"
BROKEN = FIXTURES / "ocr" / "broken-encoding-ar.pdf"
PAGE = (FIXTURES / "real" / "pages" / "akhbarelyom-2020-10-07.expected.txt").read_text("utf-8")
needs_tesseract = pytest.mark.skipif(
    not ocr.available(),
    reason="Tesseract with the ara and eng models is not installed here "
    "(apt-get install tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng; .ci/run does it)",
)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels (a decompression bomb's header: the
    pixel data is never needed to refuse it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(50_000, 50_000), (7_000, 7_000)])
def test_a_picture_over_the_pixel_cap_is_refused_before_it_is_decoded(
    size: tuple[int, int],
) -> None:
    started = time.process_time()
    with pytest.raises(ocr.ImageTooLarge) as err:
        ocr.load_image(png_header(*size), ocr.OcrLimits().max_pixels)
    assert err.value.params["megapixels"] == 40
    assert time.process_time() - started < 1.0  # 2.5 G pixels were never decoded


def test_bytes_that_are_no_picture_are_a_clear_error() -> None:
    with pytest.raises(ocr.BadImage):
        ocr.load_image(b"\x89PNG\r\n\x1a\n" * 20, 10_000_000)


def test_tesseract_tsv_becomes_lines_and_paragraphs_in_reading_order() -> None:
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tl\tt\tw\th\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t95\tأعلنت",
        "5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t91\tالوزارة,",
        "5\t1\t1\t1\t1\t3\t0\t0\t1\t1\t65\tSoba",  # the English model misreading
        "5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t90\t\u200eWorld\u200f",
        "5\t1\t1\t2\t1\t1\t0\t0\t1\t1\t20\tثم",
        "4\t1\t1\t2\t1\t0\t0\t0\t1\t1\t-1\t",
    ]
    text, confident = ocr.tsv_text("\n".join([head, *rows]))
    # Arabic comma, no bidi marks, the unsure Latin word in an Arabic line dropped
    assert text == "أعلنت الوزارة\u060c World\n\nثم"
    assert confident == 4  # "ثم" at 20 % is not counted


def test_unmapped_glyphs_are_never_passed_on() -> None:
    """A font with no character map gives pdfminer U+FFFF per glyph; that text went to
    the model as is. Now such a page is "unmapped" and left out (or read by OCR)."""
    lines = ["\uffff\uffff\uffff\uffff \uffff\uffff\uffff"]
    assert unmapped_share(lines[0]) == 1.0
    assert page_verdict(lines, []) == "unmapped"
    assert page_verdict(["\ue000\ue001\ue002 نص"], []) == "unmapped"
    text, sources = merge_pages([LayerPage(lines, "unmapped")], {})
    assert text == "" and sources == ["none"]


def test_a_broken_font_encoding_is_judged_implausible_and_good_layers_are_kept() -> None:
    """pdfminer reads the broken-encoding PDF as letters that are not words (as the
    ministry PDF in the issue: `صوو عييهاوخ` for `صوب أعينها`); it was passed on."""
    layer = text_layer(BROKEN.read_bytes())
    assert [p.verdict for p in layer] == ["implausible"]
    with pytest.raises(ImplausiblePdf):
        pdf_to_text(BROKEN.read_bytes())
    for good in sorted((FIXTURES / "pdfs").glob("*.pdf")) + sorted(
        (FIXTURES / "real" / "pdfs").glob("*.pdf")
    ):
        assert {p.verdict for p in text_layer(good.read_bytes())} == {"good"}, good.name
    assert plausible(PAGE)


@needs_tesseract
def test_a_screenshot_of_an_arabic_article_is_read_in_reading_order() -> None:
    found = ocr.image_text(encode(render_text(PAGE)), ocr.OcrLimits())
    assert bigram_f1(found.text, PAGE) >= 0.85
    assert found.pages == 1


@needs_tesseract
def test_a_photographed_jpeg_is_read() -> None:
    data = encode(photographed(render_text(PAGE, size=26)), "JPEG", quality=60)
    assert bigram_f1(ocr.image_text(data, ocr.OcrLimits()).text, PAGE) >= 0.75


@needs_tesseract
def test_arabic_and_english_in_one_picture() -> None:
    mixed = (
        "أعلنت وزارة الاقتصاد بالتعاون مع البنك الدولي (World Bank) ومنظمة العمل الدولية"
        " عن برنامج جديد لدعم الشركات الصغيرة بقيمة 500 مليون دولار."
    )
    text = ocr.image_text(encode(render_text(mixed)), ocr.OcrLimits()).text
    assert "World Bank" in text and "البنك الدولي" in text


@needs_tesseract
def test_a_picture_with_no_text_says_so() -> None:
    from PIL import Image, ImageDraw

    img = Image.new("L", (800, 600), 200)
    draw = ImageDraw.Draw(img)
    draw.ellipse((250, 100, 550, 450), fill=90)  # a face, roughly
    draw.rectangle((330, 450, 470, 600), fill=60)
    with pytest.raises(ocr.NoTextInImage):
        ocr.image_text(encode(img), ocr.OcrLimits())


@needs_tesseract
def test_a_page_over_its_time_limit_is_stopped() -> None:
    """The tesseract process is killed at the page limit (1 s here): the reading stops
    instead of running to its end (about 10 s for this page on this machine)."""
    big = render_text("\n".join([PAGE] * 6), size=24, width=2400)
    started = time.monotonic()
    with pytest.raises(ocr.SlowOcr):
        ocr.image_text(encode(big), ocr.OcrLimits(page_seconds=1.0))
    assert time.monotonic() - started < 8


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@needs_tesseract
async def test_a_scanned_pdf_is_read_by_ocr_in_a_worker_and_counted_here() -> None:
    """The PDF reader OCRs the scan inside a reader worker process; the pages and
    seconds it reports with the article are counted in this (the bot's) process."""
    data = SCANNED.read_bytes()
    expected = SCANNED.with_suffix(".expected.txt").read_text("utf-8")
    pages = _sample("digestbot_ocr_pages_total")
    ocr_paths = _sample("digestbot_pdf_pages_total", path="ocr")
    readers = Readers(workers=1)
    try:
        article = await readers.read(Input(data=data, name="scan.pdf"))
    finally:
        await readers.aclose()
    assert article.pdf_pages == ["ocr", "ocr"] and article.ocr_pages == 2
    assert bigram_f1(article.text, expected) >= 0.7
    assert _sample("digestbot_ocr_pages_total") == pages + 2
    assert _sample("digestbot_pdf_pages_total", path="ocr") == ocr_paths + 2
    assert "ocr_pages" not in article.model_dump_json()  # how it was read is not cached


@needs_tesseract
async def test_a_broken_text_layer_is_read_by_ocr() -> None:
    expected = BROKEN.with_suffix(".expected.txt").read_text("utf-8")
    layer_text = "\n".join(text_layer(BROKEN.read_bytes())[0].lines)
    assert bigram_f1(layer_text, expected) < 0.1  # what was passed on before
    article = read_pdf(Input(data=BROKEN.read_bytes(), name="b.pdf", ocr=ocr.OcrLimits()))
    assert article.pdf_pages == ["ocr"]
    assert bigram_f1(article.text, expected) >= 0.7


@needs_tesseract
async def test_the_ocr_page_cap_stops_and_the_article_says_it_is_partial() -> None:
    article = read_pdf(
        Input(data=SCANNED.read_bytes(), name="scan.pdf", ocr=ocr.OcrLimits(max_pages=1))
    )
    assert article.pdf_pages == ["ocr", "none"]
    assert article.partial


@needs_tesseract
async def test_a_good_text_layer_is_not_ocrd() -> None:
    report = FIXTURES / "pdfs" / "report-ar-shaped.pdf"
    article = read_pdf(Input(data=report.read_bytes(), name="r.pdf"))
    assert set(article.pdf_pages) == {"text"} and article.ocr_pages == 0


def _tesseracts_under(root: int) -> dict[int, int]:
    """The tesseract processes reading a picture below `root` (this test process):
    pid -> its parent's pid (a reader worker)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        parents[int(entry)] = int(fields[1])
        names[int(entry)] = stat[stat.index("(") + 1 : stat.rindex(")")]

    def under(pid: int) -> bool:
        for _ in range(20):
            pid = parents.get(pid, 0)
            if pid == root:
                return True
            if pid <= 1:
                return False
        return False

    return {
        pid: parents[pid]
        for pid, name in names.items()
        if name == "tesseract" and under(pid) and _reading(pid)
    }


def _reading(pid: int) -> bool:
    """A tesseract reading a picture (not `tesseract --list-langs`)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"stdin" in fh.read().split(b"\0")
    except OSError:
        return False


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _gone(pid: int, within: float = 1.5) -> bool:
    """Whether process `pid` has ended, waiting at most `within` s for the kernel."""
    for _ in range(int(within / 0.05)):  # polling a process the kernel ends: no event
        if not _running(pid):
            return True
        await asyncio.sleep(0.05)
    return not _running(pid)


async def _tesseract_started(pool: WorkerPool, request: tuple[object, ...], seconds: float):  # type: ignore[no-untyped-def]
    """Start `request` in the pool; return its task and the tesseract it started."""
    task = asyncio.create_task(pool.call(request, seconds=seconds))
    end = time.monotonic() + 60
    while time.monotonic() < end and not task.done():
        found = _tesseracts_under(os.getpid())
        if found:
            return task, next(iter(found.items()))
        await asyncio.sleep(0.05)
    raise AssertionError(f"no tesseract started (the read ended: {task.done()})")


@functools.cache
def _slow_picture() -> bytes:
    """About 15 s of tesseract's work (5 s per 6 pages of text on this machine)."""
    return encode(render_text("\n".join([PAGE] * 18), size=24, width=2400))


@needs_tesseract
async def test_a_worker_killed_at_its_deadline_leaves_no_tesseract_running() -> None:
    """The read's deadline (3 s) is far under its OCR page time (60 s): the pool kills
    the worker, and its tesseract (about 12 s of work left) went on running before."""
    pool = WorkerPool(1)
    inp = Input(data=_slow_picture(), name="big.png", ocr=ocr.OcrLimits(page_seconds=60))
    try:
        task, (tesseract, _) = await _tesseract_started(pool, ("image", inp, 60.0, 400), 3.0)
        assert await task == Stopped("deadline")
        assert await _gone(tesseract), "tesseract outlived its killed worker"
    finally:
        await pool.aclose()


@needs_tesseract
async def test_a_worker_that_dies_any_other_way_takes_its_tesseract_with_it() -> None:
    """A worker killed alone (as its CPU limit or the kernel's OOM killer does it, not
    its group): the kernel kills its tesseract (PR_SET_PDEATHSIG)."""
    pool = WorkerPool(1)
    inp = Input(data=_slow_picture(), name="big.png", ocr=ocr.OcrLimits(page_seconds=60))
    try:
        task, (tesseract, worker) = await _tesseract_started(pool, ("image", inp, 60.0, 400), 60.0)
        for _ in range(600):  # until it has read its input and works on it
            if _cpu_seconds(tesseract) >= 1.0 or task.done():
                break
            await asyncio.sleep(0.05)
        os.kill(worker, signal.SIGKILL)
        assert isinstance(await task, Stopped)
        assert await _gone(tesseract), "tesseract outlived its dead worker"
    finally:
        await pool.aclose()


def _w(line: int, text: str, conf: float, left: int) -> ocr.Word:
    return ocr.Word((1, 1, 1, line), text, conf, (left, line * 30, left + 50, line * 30 + 20))


def test_what_the_arabic_model_is_unsure_of_is_read_again_with_english() -> None:
    """The Arabic model reads Arabic best but turns Latin words into Arabic letters:
    its unsure words are replaced by the Arabic+English reading where that is surer,
    and an English line it read as Arabic is taken whole, in the English order."""
    arabic_pass = [
        _w(1, "البنك", 93, 400),
        _w(1, "الدولي", 93, 300),
        _w(1, "(831", 42, 200),  # "(World Bank)" as the Arabic model reads it
        _w(1, "010لالا)", 5, 100),
        _w(1, "ومنظمة", 93, 0),
        _w(2, "غقطغ", 61, 0),  # an English line read right to left as Arabic
        _w(2, "مه", 30, 100),
        _w(2, "عط", 20, 200),
    ]
    both_pass = [
        _w(1, "البنك", 93, 400),
        _w(1, "الدولي", 93, 300),
        _w(1, "(World", 96, 100),
        _w(1, "Bank)", 93, 200),
        _w(1, "dalaiog", 37, 0),  # the English model misreading an Arabic word
        _w(2, "The", 97, 0),
        _w(2, "World", 96, 100),
        _w(2, "Bank", 96, 200),
    ]
    text, _ = ocr.words_text(ocr.merge_readings(arabic_pass, both_pass))
    assert text == "البنك الدولي (World Bank) ومنظمة The World Bank"
    sure = [_w(1, "البنك", 93, 400), _w(1, "كلمة", 40, 300)]
    unsure_both = [_w(1, "البنك", 93, 400), _w(1, "klma", 45, 300)]
    assert ocr.words_text(ocr.merge_readings(sure, unsure_both))[0] == "البنك كلمة"


def test_running_heads_and_feet_of_a_scan_are_left_out() -> None:
    """A ministry's scan repeats its header and a page number on every page: OCR read
    them into the article once per page. They are left out; the text, and a line
    that only looks like a heading once, are kept."""
    body = [
        "أعلنت الوزارة اليوم عن خطة جديدة لدعم المزارعين في المحافظات الجنوبية.",
        "وقال الوزير إن الخطة تبدأ الشهر المقبل وتستمر عامين.",
        "وأضاف أن التمويل يأتي من الموازنة العامة للدولة.",
    ]
    pages = {
        i: "\n\n".join(
            [
                # OCR reads the same head a little differently on each page
                "وزارة الزراعة - نشرة صحفية" if i != 1 else "وزارة الزراعة — نشرة صحفيه",
                body[i],
                "الخطة الجديدة" if i == 0 else "ملخص",
                f"صفحة {i + 1} من 3" if i != 2 else "- ٣ -",
            ]
        )
        for i in range(3)
    }
    cleaned = ocr.drop_running_lines(pages)
    for i in range(3):
        assert "وزارة الزراعة" not in cleaned[i] and "صفحة" not in cleaned[i]
        assert body[i] in cleaned[i] and "٣" not in cleaned[i]
    assert "الخطة الجديدة" in cleaned[0]  # once only: not a running line
    assert "ملخص" not in cleaned[1]  # pages 2 and 3 of 3: half of them at least
    assert ocr.drop_running_lines({0: pages[0]}) == {0: pages[0]}  # one page: as it is


ALBAYAN = (FIXTURES / "real" / "pages" / "albayan-2020-06-03.expected.txt").read_text("utf-8")


def test_a_two_column_clipping_is_cut_at_its_gutter() -> None:
    two = render_text(ALBAYAN, width=22 * 42, columns=2)
    boxes = ocr.columns(two)
    assert len(boxes) == 2
    (_, _, left_end, _), (right_start, _, _, _) = boxes
    assert left_end == right_start and 440 < left_end < 520  # in the 80 px gutter
    one = render_text(ALBAYAN, width=22 * 42)
    assert ocr.columns(one) == [(0, 0, one.width, one.height)]  # ragged lines: no gutter


@needs_tesseract
def test_a_two_column_clipping_is_read_column_by_column_right_first() -> None:
    """Tesseract alone joined the lines of the two columns across the gutter (bigram
    F1 0.81 for this clipping); each column is now read on its own, the right one
    (the first, in Arabic) first."""
    found = ocr.image_text(encode(render_text(ALBAYAN, width=22 * 42, columns=2)), ocr.OcrLimits())
    assert bigram_f1(found.text, ALBAYAN) >= 0.9
    first, last = "القائم بأعمال السفارة الأفغانية", "والقضاء عليه"
    assert first in found.text and last in found.text
    assert found.text.index(first) < found.text.index(last)


def test_a_short_garbled_page_is_judged_and_short_real_ones_are_kept() -> None:
    """Under 20 letters or 5 different words a page was never judged: the issue's own
    `صوو عييهاوخ` (for `صوب أعينها`) was trusted. A short text is judged now, with
    more slack the shorter it is, so real titles and names keep their text layer."""
    assert not plausible("صوو عييهاوخ")
    for real in ("صوب أعينها", "وزارة الصحة", "انواع الخطوط العربية", "حَبيبي habibi"):
        assert plausible(real), real
    assert plausible("a" * 1000)  # one glyph drawn a thousand times is not judged


def test_a_lightly_garbled_page_is_not_trusted() -> None:
    """A broken encoding that maps only four letters wrong kept the mean letter-pair
    score over the old threshold (it was trusted); the many words it gives a pair that
    real words never have now tell it apart."""
    report = (FIXTURES / "pdfs" / "report-ar-shaped.expected.txt").read_text("utf-8")
    moved = "ذكصن"  # each read as the next one
    garbled = report.translate(str.maketrans(moved, moved[1:] + moved[0]))
    assert plausible(report)
    assert not plausible(garbled)


def test_only_a_picture_of_small_text_is_upscaled() -> None:
    """Upscaling twice reads 14 px text better (bench/ocr.py) and costs two to three
    times the time: a picture of text of ordinary size is read as it is."""
    small = render_text(ALBAYAN, size=14, width=14 * 42)
    ordinary = render_text(ALBAYAN, size=22, width=22 * 42)
    assert ocr.prepare(small).size == (small.width * 2, small.height * 2)
    assert ocr.prepare(ordinary).size == ordinary.size
    assert ocr.line_height(Image.new("L", (300, 300), 255)) is None  # no lines at all
