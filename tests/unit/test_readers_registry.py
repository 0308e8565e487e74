"""The readers' registry: one dispatch for links, uploads and the CLI, each reader
with its limits declared once, and the article cap that marks a cut article."""

from __future__ import annotations

import pytest

from bot.domain import Article
from bot.i18n import error_text
from bot.ingest import docx as docx_ingest
from bot.ingest import pdf as pdf_ingest
from bot.readers import ARTICLE_MAX_CHARS, Input, UnsupportedDocument, choose
from bot.readers.base import InputTooLarge, TooComplex, cap_article
from bot.readers.registry import get, readers, supported


@pytest.mark.parametrize(
    "name, mime, head, reader",
    [
        ("report.pdf", None, b"%PDF-1.7", "pdf"),
        ("scan", "application/octet-stream", b"%PDF-1.4", "pdf"),  # magic wins
        ("notes.txt", None, b"hello", "text"),
        ("notes.md", None, b"# hi", "text"),
        (None, "text/plain; charset=utf-8", b"", "text"),
        ("page.html", None, b"<html>", "page"),
        (None, "application/xhtml+xml", b"", "page"),
        ("letter.docx", None, b"PK\x03\x04", "docx"),
        (None, "application/pdf", b"", "pdf"),
        ("photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0", "image"),
        ("screenshot", None, b"\x89PNG\r\n\x1a\n", "image"),
        (None, "image/webp", b"RIFF", "image"),
    ],
)
def test_one_dispatch_chooses_by_magic_then_suffix_then_type(
    name: str | None, mime: str | None, head: bytes, reader: str
) -> None:
    assert choose(name, mime, head).name == reader


@pytest.mark.parametrize(
    "name, mime, head",
    [
        ("clip.mp4", "video/mp4", b"\x00\x00\x00\x18"),
        ("book.txt", None, b"PK\x03\x04"),
        (None, None, b""),
    ],
)
def test_what_no_reader_reads_is_refused_naming_what_we_read(
    name: str | None, mime: str | None, head: bytes
) -> None:
    with pytest.raises(UnsupportedDocument) as caught:
        choose(name, mime, head)
    assert "PDF, TXT, HTML, DOCX, PNG, JPEG, WebP, TIFF" in error_text("en", caught.value)


def test_every_reader_declares_its_limits_and_they_match_the_formats_own() -> None:
    assert {r.name for r in readers()} == {"page", "text", "pdf", "docx", "image"}
    for reader in readers():
        limits = reader.limits
        assert limits.bytes > 0 and limits.seconds > 0 and limits.memory_mb >= 64
        assert limits.chars == ARTICLE_MAX_CHARS
    assert get("pdf").limits.pages == pdf_ingest.MAX_PAGES
    assert get("pdf").limits.seconds == pdf_ingest.MAX_SECONDS
    assert get("docx").limits.entries == docx_ingest.MAX_ENTRIES
    assert supported() == "PDF, TXT, HTML, DOCX, PNG, JPEG, WebP, TIFF"


def test_a_long_article_is_cut_at_a_paragraph_and_marked_partial() -> None:
    para = "جملة عربية في فقرة طويلة. " * 40
    article = Article(text="\n\n".join([para] * 1000))
    cut = cap_article(article, ARTICLE_MAX_CHARS)
    assert len(cut.text) <= ARTICLE_MAX_CHARS and cut.partial
    assert cut.text.endswith(para.strip())
    assert cap_article(Article(text=para), ARTICLE_MAX_CHARS).partial is False


@pytest.mark.parametrize(
    "origin, en, ar",
    [("link", "page", "الصفحة"), ("upload", "file", "الملف"), ("paste", "text", "النص")],
)
def test_each_input_has_its_own_message_in_both_languages(origin: str, en: str, ar: str) -> None:
    complex_ = TooComplex("stopped", origin=origin, limit="deadline")  # type: ignore[arg-type]
    assert f"This {en} is too complex" in error_text("en", complex_)
    assert ar in error_text("ar", complex_) and "أعقد" in error_text("ar", complex_)
    large = InputTooLarge("big", origin=origin, limit_mb=5)  # type: ignore[arg-type]
    assert "5 MB" in error_text("en", large) and "5 ميغابايت" in error_text("ar", large)


def test_an_input_counts_its_text_in_bytes() -> None:
    assert Input(text="نص").size == 4 and Input(data=b"abc").size == 3
