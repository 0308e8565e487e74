"""Arabic PDF text in reading order: the real fixture PDFs word by word, and the
visual-to-logical reordering of single lines."""

from __future__ import annotations

import resource
import zlib
from pathlib import Path

import pytest

from bot.i18n import error_text
from bot.ingest import pdf, pdf_layout, pdf_streams
from bot.ingest.bidi_order import to_logical
from bot.ingest.overlap import bigram_f1, words
from bot.ingest.pdf import (
    BadPdf,
    PdfBomb,
    ScannedPdf,
    SlowPdf,
    UnmappedPdf,
    drop_running_lines,
    pdf_to_text,
    read_glyphs,
)
from tests.fakes.pdfs import blank_pdf_bytes, unmapped_pdf_bytes

FIXTURES = Path(__file__).parents[1] / "fixtures"
REAL = FIXTURES / "real" / "pdfs"
OURS = FIXTURES / "pdfs"  # made by tests/fixtures/make_pdfs.py
PDFS = sorted([*REAL.glob("*.pdf"), *OURS.glob("*.pdf")])


@pytest.mark.parametrize("path", PDFS, ids=[p.stem for p in PDFS])
def test_pdf_reads_in_order_word_by_word(path: Path) -> None:
    """Real PDFs (pdfbox, pdf.js, py-pdf) and ours (shaped RTL as a word processor
    writes it, a two-column report with running heads, visual-order presentation
    forms): every word, in order, and nothing else (running heads are gone)."""
    got = pdf_to_text(path.read_bytes())
    expected = path.with_suffix(".expected.txt").read_text(encoding="utf-8")
    assert words(got) == words(expected)
    assert bigram_f1(got, expected) == 1.0


def test_two_column_report_reads_right_column_first() -> None:
    got = pdf_to_text((OURS / "report-ar-two-column.pdf").read_bytes())
    first = got.index("أعلنت وزارة الاقتصاد")
    assert first < got.index("وقال الوزير") < got.index("وأضاف أن الحكومة")
    assert "للاستخدام الرسمي" not in got and "صفحة" not in got and "التقرير الفصلي" not in got


def test_presentation_forms_and_ligatures_are_plain_letters() -> None:
    got = pdf_to_text((REAL / "pdfjs-ArabicCIDTrueType.pdf").read_bytes())
    assert not any(0xFB50 <= ord(ch) <= 0xFEFF for ch in got)
    assert "الخطوط" in got


def test_arabic_indic_numbers_keep_their_digit_order() -> None:
    got = pdf_to_text((REAL / "pdfbox-BidiSample.pdf").read_bytes())
    assert "١٤-إبريل-١٤٣٤" in got
    assert "١٤٣٤" in got and "٤٣٤١" not in got


def test_tashkeel_stays_on_its_letter_and_numbers_keep_their_form() -> None:
    got = pdf_to_text((OURS / "report-ar-justified-tashkeel.pdf").read_bytes())
    for exact in ("قالَ المتحدثُ الرسميُّ إنّ الاجتماعَ سيُعقد", "٣٫٥٪", "2020-2023", "«لن نقبل"):
        assert exact in got
    assert got.endswith("خلال العام نفسه.")


def test_bigram_f1_punishes_wrong_order() -> None:
    assert bigram_f1("انواع الخطوط العربية", "العربية الخطوط انواع") == 0.0


@pytest.mark.parametrize(
    ("visual", "rtl", "logical"),
    [
        ("ةيبرعلا", True, "العربية"),
        ("2020 ماع يف", True, "في عام 2020"),
        ("١/١٢/٢٠٢٠ خيراتب", True, "بتاريخ ١/١٢/٢٠٢٠"),
        ("CNN ـل لاق", True, "قال لـ CNN"),
        ("%50 ةبسنب", True, "بنسبة 50%"),
        ("(ريرقتلا) ركذ", True, "ذكر (التقرير)"),
        ("A line with ةيبرعلا word", False, "A line with العربية word"),
        ("in 2020 ةنس", False, "in 2020 سنة"),
        ("2023-2020 نم", True, "من 2020-2023"),  # after an Arabic letter: two numbers
        # Arabic-Indic digits never join a Latin word (python-bidi's display of the logical)
        ("يونسلا ٢٠٢٤ World ريرقت", True, "تقرير World ٢٠٢٤ السنوي"),
        # brackets mapped to the glyph drawn (python-bidi) or to the character typed (HarfBuzz)
        ("نإ (World Bank) تلاق", True, "قالت (World Bank) إن"),
        ("نإ )World Bank( تلاق", True, "قالت (World Bank) إن"),
        ("نأ )ريرقتلا( ركذ", True, "ذكر (التقرير) أن"),
        ("ةنس 2020-2023", True, "2020-2023 سنة"),  # at the start: one European number
    ],
)
def test_visual_line_to_logical(visual: str, rtl: bool, logical: str) -> None:
    assert "".join(to_logical(list(visual), rtl=rtl)) == logical


def test_running_heads_and_page_numbers_are_dropped() -> None:
    pages = [
        ["التقرير السنوي 2025", "الهيئة العامة", body, "سري", f"صفحة {i} من 3"]
        for i, body in enumerate(BODIES, 1)
    ]
    assert drop_running_lines(pages) == [[body] for body in BODIES]


BODIES = ["قال الوزير إن الخطة تبدأ غدا", "وأضاف أن الميزانية زادت", "وختم بالشكر"]


def test_a_single_page_keeps_its_edges() -> None:
    assert drop_running_lines([["العنوان", "النص", "1"]]) == [["العنوان", "النص", "1"]]


def test_damaged_pdf_is_refused_clearly() -> None:
    with pytest.raises(BadPdf):
        pdf_to_text(b"%PDF-1.4\nthis is not a pdf")


def test_pdf_without_text_layer_is_a_scan(blank_pdf: bytes) -> None:
    with pytest.raises(ScannedPdf):
        pdf_to_text(blank_pdf)


@pytest.fixture
def blank_pdf() -> bytes:
    return blank_pdf_bytes()


def test_password_protected_pdf_says_so_in_both_languages() -> None:
    with pytest.raises(BadPdf) as caught:
        pdf_to_text((OURS / "encrypted.pdf.bin").read_bytes())
    assert "password" in error_text("en", caught.value)
    assert "كلمة مرور" in error_text("ar", caught.value)


def test_glyphs_without_a_character_map_are_not_called_a_scan() -> None:
    with pytest.raises(UnmappedPdf) as caught:
        pdf_to_text(unmapped_pdf_bytes())
    assert "scanned" not in error_text("en", caught.value)
    with pytest.raises(ScannedPdf) as scan:
        pdf_to_text(blank_pdf_bytes())
    assert "صورة ممسوحة" in error_text("ar", scan.value)


def test_a_pdf_that_reads_too_slowly_is_stopped_between_pages() -> None:
    """A crafted PDF can keep pdfminer busy for minutes: past MAX_SECONDS (here a clock
    that moves 20 s per look) the reading stops before the next page, with a message."""
    ticks = iter(range(0, 1000, 20))
    data = (OURS / "report-ar-two-column.pdf").read_bytes()  # two pages
    assert len(read_glyphs(data, max_seconds=30, clock=lambda: 0.0)) == 2
    with pytest.raises(SlowPdf) as raised:
        read_glyphs(data, max_seconds=30, clock=lambda: float(next(ticks)))
    assert "30" in error_text("en", raised.value) and "PDF" in error_text("en", raised.value)
    assert "30" in error_text("ar", raised.value) and "ثانية" in error_text("ar", raised.value)


def _flate_pdf(stream: bytes, filters: bytes = b"/FlateDecode") -> bytes:
    """A one-page PDF whose content stream is `stream` (already encoded by `filters`)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d /Filter %s >>\nstream\n" % (len(stream), filters) + stream + b"\nendstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def test_a_pdf_whose_streams_unpack_to_a_bomb_is_refused_without_inflating_it() -> None:
    """300 KB whose page content inflates to 300 MB: pdfminer inflated it whole (322 MB,
    3 s). The bounded decoders stop at MAX_UNPACKED_BYTES with a clear message."""
    bomb = _flate_pdf(zlib.compress(b" " * (300 * 1024 * 1024), 9))
    assert len(bomb) < 400_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PdfBomb) as raised:
        pdf_to_text(bomb)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 150
    assert "64" in error_text("en", raised.value) and "64" in error_text("ar", raised.value)


def test_bounded_decoders_read_flate_and_damaged_flate_as_pdfminer_did() -> None:
    text = b"BT /F1 12 Tf 20 100 Td (Hello bounded world) Tj ET"
    packed = zlib.compress(text)
    assert pdf_streams.decompress(packed) == text
    assert pdf_streams.decompress_corrupted(packed[:-2]) == text  # CRC cut off
    with pytest.raises(zlib.error):
        pdf_streams.decompress(packed[: len(packed) // 2])


def test_a_long_line_of_glyphs_is_grouped_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grouping glyphs into lines read the growing line's full extent for every glyph:
    one line of 20,000 glyphs (a 20 KB PDF) took 49 s. Now the extent is kept as the
    line grows: reading it no longer scales with the glyphs."""
    reads = [0]
    top = pdf_layout.Line.top

    def counted(self: pdf_layout.Line) -> float:
        reads[0] += 1
        return top.fget(self)  # type: ignore[misc]

    monkeypatch.setattr(pdf_layout.Line, "top", property(counted))
    glyphs = [pdf_layout.Glyph("a", i, i + 1, 10, 12, 2, i) for i in range(5000)]
    (line,) = pdf_layout.group_lines(glyphs)
    assert len(line.glyphs) == 5000
    assert reads[0] < 10


def test_glyphs_are_capped_as_pdfminer_draws_them_even_within_one_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cap was checked after each whole page: one text run of millions of glyphs (a
    few MB, about 1 KB of memory each) was all drawn first. Now pdfminer stops at the
    cap, and what the page drew so far is read."""
    monkeypatch.setattr(pdf, "MAX_GLYPHS", 1000)
    one_run = _flate_pdf(b"BT /F1 2 Tf 0 100 Td (" + b"a" * 5000 + b") Tj ET", b"[]")
    assert pdf_to_text(one_run) == "a" * 1000
