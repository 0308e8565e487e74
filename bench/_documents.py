"""Figures for bench/extract.py: the real Arabic news pages (body token F1 and date,
ours vs plain trafilatura) and the Arabic PDFs (order-preserving bigram F1 per
extractor tried). Extractors that are not installed are reported as such; PyMuPDF is
AGPL-3.0 and is measured only when present, never a dependency of the bot."""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import trafilatura

from bot.ingest.extract import extract_html
from bot.ingest.overlap import bigram_f1, token_f1
from bot.ingest.pdf import pdf_to_text

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "fixtures" / "real" / "pages"
PDFS = [
    *sorted((ROOT / "tests" / "fixtures" / "real" / "pdfs").glob("*.pdf")),
    *sorted((ROOT / "tests" / "fixtures" / "pdfs").glob("*.pdf")),
]


def page_figures() -> list[dict[str, Any]]:
    rows = list(csv.DictReader((PAGES / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
    out = []
    for row in rows:
        html = (PAGES / row["file"]).read_text(encoding="utf-8")
        expected = (PAGES / row["expected_file"]).read_text(encoding="utf-8")
        ours = extract_html(html, None)
        plain = trafilatura.bare_extraction(html, favor_precision=True, with_metadata=True)
        plain_date = getattr(plain, "date", None)
        want = date.fromisoformat(row["pub_date"])
        out.append(
            {
                "name": row["name"],
                "f1_ours": token_f1(ours.text, expected),
                "f1_plain": token_f1(getattr(plain, "text", "") or "", expected),
                "date_ours": ours.published,
                "date_plain": plain_date,
                "date_expected": want,
            }
        )
    return out


def date_case_figures() -> list[dict[str, Any]]:
    """The hard date cases of tests/unit/test_page_dates.py (pages in real-looking CMS
    markup): our date vs plain trafilatura's."""
    from tests.unit.test_page_dates import page

    ld = '{"@type":"NewsArticle","datePublished":"2023-07-11T23:10:00Z"}'
    cases = [
        (
            "UTC meta a day before the local dateline",
            page(
                "<meta property='article:published_time' content='2024-03-14T22:30:00Z'>",
                "الجمعة، 15 مارس 2024 - 01:30 ص",
            ),
            date(2024, 3, 15),
        ),
        (
            "JSON-LD UTC + Maghrebi dateline (جويلية)",
            page(f"<script type='application/ld+json'>{ld}</script>", "12 جويلية 2023"),
            date(2023, 7, 12),
        ),
        (
            "only a modified date, earlier than the dateline",
            page(
                "<meta property='article:modified_time' content='2020-03-15T20:18+0400'>",
                "03 يونيو 2020",
            ),
            date(2020, 6, 3),
        ),
        (
            "Moroccan month (شتنبر), no metadata",
            page("", "الأربعاء 20 شتنبر 2023 - 14:05"),
            date(2023, 9, 20),
        ),
        ("Maghrebi month (فيفري), no metadata", page("", "نشر في 3 فيفري 2022"), date(2022, 2, 3)),
        (
            "Levantine + Arabic-Indic digits",
            page("", "الخميس ١٤ تشرين الثاني ٢٠٢٤"),
            date(2024, 11, 14),
        ),
        ("Egyptian variant (يونيه)", page("", "الاثنين 2 يونيه 2025"), date(2025, 6, 2)),
    ]
    out = []
    for name, html, want in cases:
        plain = trafilatura.bare_extraction(html, favor_precision=True, with_metadata=True)
        out.append(
            {
                "name": name,
                "ours": extract_html(html, None).published,
                "plain": getattr(plain, "date", None),
                "expected": want,
            }
        )
    return out


def round_trip_figures(n: int = 2000) -> tuple[float, float] | None:
    """Random mixed Arabic/Latin/number lines shown by python-bidi (a full Unicode bidi
    implementation), then read back by bot.ingest.bidi_order: the share read back
    exactly and the mean bigram F1. None when python-bidi is not installed. Some lines
    cannot be read back at all: "IMF 12 يف" is the display of both "في IMF 12" and
    "في 12 IMF"."""
    import random

    try:
        from bidi.algorithm import get_display
    except ImportError:
        return None
    from bot.ingest.bidi_order import to_logical

    rng = random.Random(1)
    arabic = "قال الوزير إن الحكومة ستطلق برنامجا جديدا في عام مليون دولار بنسبة وذلك بحسب"
    latin = ["NASA", "Reuters", "World", "Bank", "IMF", "COVID-19", "UN"]
    numbers = ["2020", "3.5%", "12", "٢٠٢٤", "١٥", "2020-2023", "٣٫٥٪", "10:30", "1/12/2020"]
    exact = total = 0.0
    for _ in range(n):
        words = [
            rng.choice(arabic.split()) if r < 0.6 else rng.choice(latin if r < 0.75 else numbers)
            for r in (rng.random() for _ in range(rng.randint(3, 10)))
        ]
        if rng.random() < 0.3:
            i = rng.randrange(len(words))
            words[i] = f"({words[i]})"
        logical = " ".join(words)
        got = "".join(to_logical(list(get_display(logical, base_dir="R")), rtl=True))
        exact += got == logical
        total += bigram_f1(got, logical)
    return exact / n, total / n


def _pypdf(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(path).pages)


def _pdfminer(path: Path) -> str:
    from pdfminer.high_level import extract_text

    return str(extract_text(path))


def _pdfplumber(path: Path) -> str:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return "\n".join(p.extract_text() or "" for p in pdf.pages)


def _pymupdf(path: Path) -> str:
    import pymupdf

    with pymupdf.open(path) as doc:
        return "\n".join(page.get_text() for page in doc)


def _pdfium(path: Path) -> str:
    import pypdfium2

    doc = pypdfium2.PdfDocument(path)
    return "\n".join(page.get_textpage().get_text_range() for page in doc)


def _ours(path: Path) -> str:
    return pdf_to_text(path.read_bytes())


EXTRACTORS: dict[str, Callable[[Path], str]] = {
    "pypdf (BSD)": _pypdf,
    "pdfminer.six text (MIT)": _pdfminer,
    "pdfplumber (MIT)": _pdfplumber,
    "PyMuPDF (AGPL-3.0)": _pymupdf,
    "pypdfium2 (Apache/BSD)": _pdfium,
    "ours: pdfminer.six glyphs + bot/ingest/pdf_layout": _ours,
}


def pdf_figures() -> dict[str, dict[str, float | str]]:
    """extractor -> pdf name -> bigram F1 (or 'not installed' / 'error')."""
    out: dict[str, dict[str, float | str]] = {}
    for name, fn in EXTRACTORS.items():
        scores: dict[str, float | str] = {}
        for path in PDFS:
            expected = path.with_suffix(".expected.txt").read_text(encoding="utf-8")
            try:
                scores[path.stem] = bigram_f1(fn(path), expected)
            except ImportError:
                scores = {p.stem: "not installed" for p in PDFS}
                break
            except Exception as exc:  # a library failing on a file is a result too
                scores[path.stem] = f"error ({type(exc).__name__})"
        out[name] = scores
    return out


def pdf_ms() -> float:
    """Median ms for our extraction of the 2-page two-column report."""
    data = (ROOT / "tests" / "fixtures" / "pdfs" / "report-ar-two-column.pdf").read_bytes()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        pdf_to_text(data)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _cell(value: float | str) -> str:
    return f"{value:.3f}" if isinstance(value, float) else value


def render_documents(pages: list[dict[str, Any]], pdfs: dict[str, dict[str, float | str]]) -> str:
    lines = [
        "Real Arabic news pages (tests/fixtures/real/pages, MANIFEST.tsv gives sources):"
        " token F1 of the body (bot.ingest.overlap.token_f1) and the date, ours vs plain"
        " trafilatura (favor_precision).",
        "",
        "| page | F1 ours | F1 trafilatura | date ours | date trafilatura | expected |",
        "|---|---:|---:|---|---|---|",
    ]
    for p in pages:
        lines.append(
            f"| {p['name']} | {p['f1_ours']:.3f} | {p['f1_plain']:.3f} | {p['date_ours']}"
            f" | {p['date_plain']} | {p['date_expected']} |"
        )
    n = len(pages)
    mean_ours = sum(p["f1_ours"] for p in pages) / n
    mean_plain = sum(p["f1_plain"] for p in pages) / n
    right_ours = sum(p["date_ours"] == p["date_expected"] for p in pages)
    right_plain = sum(str(p["date_plain"]) == p["date_expected"].isoformat() for p in pages)
    lines += [
        f"| **mean / dates right** | **{mean_ours:.4f}** | {mean_plain:.4f} | **{right_ours}/{n}**"
        f" | {right_plain}/{n} | |",
    ]
    cases = date_case_figures()
    lines += [
        "",
        "Hard date cases (tests/unit/test_page_dates.py, real-looking CMS markup):",
        "",
        "| case | ours | trafilatura | expected |",
        "|---|---|---|---|",
        *(f"| {c['name']} | {c['ours']} | {c['plain']} | {c['expected']} |" for c in cases),
        f"| **right** | **{sum(c['ours'] == c['expected'] for c in cases)}/{len(cases)}**"
        f" | {sum(str(c['plain']) == c['expected'].isoformat() for c in cases)}/{len(cases)} | |",
    ]
    lines += [
        "",
        "Arabic PDFs: order-preserving F1 over adjacent word pairs (bigram F1,"
        " bot.ingest.overlap.bigram_f1) against the expected text. Three real files"
        " (pdfbox, pdf.js, py-pdf) and four of ours (tests/fixtures/make_pdfs.py).",
        "",
        "| extractor | " + " | ".join(p.stem for p in PDFS) + " | mean |",
        "|---|" + "---:|" * (len(PDFS) + 1),
    ]
    for name, scores in pdfs.items():
        numbers = [v for v in scores.values() if isinstance(v, float)]
        mean = f"{sum(numbers) / len(numbers):.3f}" if len(numbers) == len(PDFS) else "–"
        cells = " | ".join(_cell(scores[p.stem]) for p in PDFS)
        lines.append(f"| {name} | {cells} | {mean} |")
    trip = round_trip_figures()
    if trip is not None:
        lines += [
            "",
            "Visual-to-logical round trip against python-bidi on 2000 random right-to-left"
            " lines mixing Arabic, Latin words, European and Arabic-Indic numbers and"
            f" brackets: {trip[0]:.1%} read back exactly, mean bigram F1 {trip[1]:.3f}"
            " (part of the rest is ambiguous: a number between a Latin word and an Arabic"
            " one displays the same whichever way it belongs).",
        ]
    lines += [
        "",
        f"Our PDF extraction of the 2-page two-column report: {pdf_ms():.0f} ms (median of 10).",
        "Targets: page F1 >= 0.995, every date right, PDF bigram F1 >= 0.95.",
    ]
    return "\n".join(lines)
