"""Documents sent to the bot, end to end: the real Application downloads them through
the fake Bot API (getFile, then /file/bot<token>/<path>), reads them and asks the fake
LLM; the test checks what text reached the model, and in which order."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from telegram.error import NetworkError

from bot.config import Settings
from bot.ingest.overlap import bigram_f1, words
from bot.store.redis import Store
from bot.telegram.documents import download_file
from tests.fakes.botapi import BotAPI, Sent
from tests.fakes.llm import FakeLLM
from tests.fakes.pdfs import blank_pdf_bytes
from tests.integration.telegram_harness import Bot, article_page, running_bot

FIXTURES = Path(__file__).parents[1] / "fixtures"
REPORT = FIXTURES / "pdfs" / "report-ar-two-column.pdf"
SHAPED = FIXTURES / "pdfs" / "report-ar-shaped.pdf"
NUMBER = re.compile(r"^\[\d+\]\s*")  # the prompt numbers each sentence: "[3] ..."
EXPECTED = REPORT.with_suffix(".expected.txt").read_text(encoding="utf-8")


async def digest_in(bot: Bot, chat_id: int) -> Sent:
    return await bot.fake.wait_for(
        lambda s: s.chat_id == chat_id and "•" in s.plain and s.reply_markup is not None, 15
    )


def article_sent(fake_llm: FakeLLM) -> str:
    """The article text of the first summarizing request the model received."""
    texts = [t for t in fake_llm.user_texts() if "<article>\n" in t]
    assert texts, "the model never received the article"
    block = texts[0].split("<article>\n", 1)[1].split("\n</article>", 1)[0]
    return "\n".join(NUMBER.sub("", line) for line in block.splitlines())


async def test_uploaded_arabic_pdf_report_reaches_the_model_in_reading_order(
    bot: Bot, fake_llm: FakeLLM
) -> None:
    bot.fake.document(31, REPORT.read_bytes(), "تقرير.pdf", mime_type="application/pdf")
    digest = await digest_in(bot, 31)
    assert bot.fake.downloads == ["documents/file_1"]
    assert "getFile" in [name for name, _ in bot.fake.calls]
    sent = article_sent(fake_llm)
    assert bigram_f1(sent, EXPECTED) >= 0.99
    assert words(sent)[:40] == words(EXPECTED)[:40]  # title, then the right column first
    assert "للاستخدام الرسمي" not in sent and "صفحة" not in sent  # running heads dropped
    assert "الناتج" in digest.plain or "وزارة" in digest.plain


async def test_caption_is_the_instruction_and_the_same_file_is_cached(
    bot: Bot, fake_llm: FakeLLM
) -> None:
    data = REPORT.read_bytes()
    bot.fake.document(32, data, "report.pdf", caption="en detailed")
    digest = await digest_in(bot, 32)
    assert digest.buttons[0]["callback_data"].endswith(":ar")  # the digest is English
    calls = fake_llm.calls
    bot.fake.document(32, data, "copy.pdf", caption="en detailed")
    await bot.fake.wait_for(
        lambda s: s.chat_id == 32 and "•" in s.plain and s.message_id != digest.message_id, 15
    )
    assert fake_llm.calls == calls  # keyed by the text's hash: no second summary


async def test_a_question_after_an_uploaded_document_is_answered(bot: Bot) -> None:
    bot.fake.document(33, REPORT.read_bytes(), "report.pdf", language_code="ar")
    digest = await digest_in(bot, 33)
    bot.fake.message(33, "كم بلغت الصادرات؟", reply_to=digest.message_id, language_code="ar")
    answer = await bot.reply(33, contains="الجواب")
    assert answer.plain


async def test_text_html_and_docx_uploads_are_summarized(
    bot: Bot, fake_llm: FakeLLM, seed_text: str
) -> None:
    paragraphs = [p for p in seed_text.split("\n\n") if p.strip()]
    uploads = [
        (seed_text.encode("utf-8"), "article.txt", "text/plain"),
        (article_page(seed_text).encode("utf-8"), "page.htm", None),
        (_docx(paragraphs), "statement.docx", None),
    ]
    for i, (data, name, mime) in enumerate(uploads):
        bot.fake.document(34 + i, data, name, mime_type=mime)
        await digest_in(bot, 34 + i)
    assert len(bot.fake.downloads) == 3
    sent = " ".join(words(article_sent(fake_llm)))
    longest = max(paragraphs, key=len)
    assert " ".join(words(longest)[:8]) in sent


def _docx(paragraphs: list[str]) -> bytes:
    """A minimal .docx: word/document.xml with one <w:p> per paragraph."""
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(
        f'<w:p><w:pPr><w:bidi/></w:pPr><w:r><w:rPr><w:rtl/></w:rPr><w:t xml:space="preserve">{p}'
        "</w:t></w:r></w:p>"
        for p in paragraphs
    )
    xml = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", xml)
    return out.getvalue()


async def test_too_large_document_is_refused_before_downloading(bot: Bot) -> None:
    bot.fake.document(41, b"%PDF-1.4", "big.pdf", file_size=25 * 1024 * 1024, language_code="ar")
    reply = await bot.reply(41, contains="20")
    assert "ميغابايت" in reply.plain
    assert bot.fake.downloads == []


async def test_unsupported_type_lists_what_is_supported_in_both_languages(bot: Bot) -> None:
    bot.fake.document(42, b"\x00\x00\x00\x18ftypmp42", "clip.mp4", mime_type="video/mp4")
    reply = await bot.reply(42, contains="PDF")
    assert "DOCX" in reply.plain and "can't read" in reply.plain
    bot.fake.document(43, b"PK\x03\x04", "sheet.xlsx", language_code="ar")
    reply = await bot.reply(43, contains="PDF")
    assert "لا أستطيع قراءة" in reply.plain
    assert bot.fake.downloads == []


async def test_scanned_pdf_gets_a_clear_message(bot: Bot) -> None:
    bot.fake.document(44, blank_pdf_bytes(), "scan.pdf", language_code="en")
    reply = await bot.reply(44, contains="scanned")
    assert "scanned image" in reply.plain


async def test_an_upload_over_the_rate_is_refused_before_downloading(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=1) as bot:
        bot.fake.document(45, REPORT.read_bytes(), "a.pdf")
        await digest_in(bot, 45)
        bot.fake.document(45, SHAPED.read_bytes(), "b.pdf")
        reply = await bot.reply(45, contains="too fast")
        assert reply.plain
        assert bot.fake.downloads == ["documents/file_1"]  # the second was never fetched


SENT: list[int] = []


async def _endless(request: web.Request) -> web.StreamResponse:
    """A file server that says nothing about the size and sends 100 MB (it counts what
    it managed to write before the client hung up in SENT)."""
    response = web.StreamResponse()
    await response.prepare(request)
    chunk = b"x" * (256 * 1024)
    SENT.append(0)
    with contextlib.suppress(ConnectionError):
        for _ in range(400):
            await response.write(chunk)
            SENT[-1] += len(chunk)
    return response


async def test_a_download_is_capped_while_it_is_read(bot: Bot) -> None:
    """The message and getFile may not say the size (or lie): the download itself stops
    at 20 MB and the user reads "too large", not a timeout after 100 MB in memory."""
    bot.fake.file_handlers["documents/file_1"] = _endless
    bot.fake.document(46, b"small", "notes.txt", language_code="en")
    reply = await bot.reply(46, contains="too large", wait=20)
    assert "20 MB" in reply.plain
    assert SENT and SENT[-1] < 40 * 1024 * 1024  # the reading stopped near 20 MB


async def _redirect_loop(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(str(request.url))  # aiohttp gives up with the URL in its error


async def test_a_failing_file_server_never_puts_the_token_in_logs(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """The file URL carries the bot token (`/file/bot<token>/...`, with `:` written
    `%3A`): neither the log records at INFO and above, the error raised, nor the user's
    message may contain it. (PTB's own DEBUG lines do: the redacting formatter of
    bot/logs.py removes it there, see tests/unit/test_logs.py.)"""
    token = bot.fake.token
    bot.fake.file_handlers["documents/file_1"] = _redirect_loop
    with caplog.at_level(logging.INFO):
        bot.fake.document(47, b"a text", "notes.txt", language_code="en")
        reply = await bot.reply(47, contains="download", wait=20)
        with pytest.raises(NetworkError) as raised:
            await download_file(bot.app.bot, "doc-1")
    secret = token.split(":", 1)[1]
    texts = [reply.plain, str(raised.value), repr(raised.value.__cause__)]
    texts += [r.getMessage() for r in caplog.records]
    assert "TooManyRedirects" in str(raised.value)
    for text in texts:
        assert secret not in text and quote(token) not in text
