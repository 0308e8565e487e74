"""PDF links: `/summarize <pdf link>`, a plain PDF link in a private chat and the CLI
(`summarize file.pdf`, a .docx, a PDF URL), all reaching the model in reading order,
under the same fetch limits and SSRF rules as web pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import BlockedAddress, TooLarge, UnsupportedContent
from bot.ingest.fetch import PAGE_OR_PDF_TYPES, Fetcher
from bot.ingest.overlap import bigram_f1, words
from bot.store.redis import Store
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot
from tests.integration.test_cli_summarize import cli_env, summarize
from tests.integration.test_telegram_documents import _docx, article_sent, digest_in

FIXTURES = Path(__file__).parents[1] / "fixtures"
REPORT = FIXTURES / "pdfs" / "report-ar-two-column.pdf"
SHAPED = FIXTURES / "pdfs" / "report-ar-shaped.pdf"
EXPECTED = REPORT.with_suffix(".expected.txt").read_text(encoding="utf-8")


async def test_summarize_command_with_a_pdf_link(
    bot: Bot, fake_llm: FakeLLM, pages: PageServer
) -> None:
    link = pages.add("/statements/q3.pdf", REPORT.read_bytes(), content_type="application/pdf")
    bot.fake.command(51, f"/summarize {link}", language_code="ar")
    await digest_in(bot, 51)
    sent = article_sent(fake_llm)
    assert words(sent)[:40] == words(EXPECTED)[:40]
    assert bigram_f1(sent, EXPECTED) >= 0.99


async def test_plain_pdf_link_labelled_as_binary_in_a_private_chat(
    bot: Bot, fake_llm: FakeLLM, pages: PageServer
) -> None:
    link = pages.add(
        "/files/report.pdf", SHAPED.read_bytes(), content_type="application/octet-stream"
    )
    bot.fake.message(52, link, language_code="ar")
    await digest_in(bot, 52)
    expected = SHAPED.with_suffix(".expected.txt").read_text(encoding="utf-8")
    assert bigram_f1(article_sent(fake_llm), expected) >= 0.99


async def test_pdf_links_keep_the_fetch_limits_and_the_ssrf_guard(pages: PageServer) -> None:
    link = pages.add("/r.pdf", REPORT.read_bytes(), content_type="application/pdf")
    async with Fetcher() as guarded:  # 127.0.0.1 is not allowed here
        with pytest.raises(BlockedAddress):
            await guarded.fetch(link, accept=PAGE_OR_PDF_TYPES)
    allowed = frozenset({"127.0.0.1"})
    async with Fetcher(allow_hosts=allowed, max_bytes=10_000) as small:
        with pytest.raises(TooLarge):
            await small.fetch(link, accept=PAGE_OR_PDF_TYPES)
    async with Fetcher(allow_hosts=allowed) as fetcher:
        page = await fetcher.fetch(link, accept=PAGE_OR_PDF_TYPES)
        assert page.content_type == "application/pdf" and page.body == REPORT.read_bytes()
        with pytest.raises(UnsupportedContent):  # a caller that reads only pages
            await fetcher.fetch(link)
        fake = pages.add("/fake.pdf", b"<html>not a pdf</html>", content_type="application/pdf")
        with pytest.raises(UnsupportedContent):
            await fetcher.fetch(fake, accept=PAGE_OR_PDF_TYPES)


@pytest.fixture
def cli(tmp_path: Path, redis_url: str, store: Store, fake_llm: FakeLLM) -> dict[str, str]:
    return cli_env(
        tmp_path,
        REDIS_URL=redis_url,
        REDIS_PREFIX=store.keys.prefix,
        OPENAI_API_KEY="sk-test-cli-123456",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MODEL="fake-model",
        FETCH_ALLOW_HOSTS="127.0.0.1",
    )


async def test_cli_summarizes_a_pdf_file_a_docx_and_a_pdf_url(
    tmp_path: Path, cli: dict[str, str], fake_llm: FakeLLM, pages: PageServer
) -> None:
    from tests.integration.telegram_harness import model

    fake_llm.handler = model
    code, out, err = await summarize(str(REPORT), "--format", "json", env=cli, cwd=tmp_path)
    assert code == 0, err
    data = json.loads(out)
    assert data["path"] == "llm" and data["lang"] == "ar" and data["bullets"]
    assert bigram_f1(article_sent(fake_llm), EXPECTED) >= 0.99
    docx = tmp_path / "statement.docx"
    docx.write_bytes(_docx([line for line in EXPECTED.splitlines() if line]))
    code, out, err = await summarize(str(docx), "--format", "json", env=cli, cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["cache"] == "hit"  # the same text as the PDF: the same digest
    link = pages.add("/q3.pdf", SHAPED.read_bytes(), content_type="application/pdf")
    code, out, err = await summarize(link, "--format", "json", env=cli, cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["source"] == {"kind": "url", "value": link}


async def test_cli_scanned_pdf_is_one_clear_line(tmp_path: Path, cli: dict[str, str]) -> None:
    from tests.fakes.pdfs import blank_pdf_bytes

    scan = tmp_path / "scan.pdf"
    scan.write_bytes(blank_pdf_bytes())
    code, out, err = await summarize(str(scan), env=cli, cwd=tmp_path)
    assert code == 2 and out == ""
    assert "scanned image" in err and len(err.strip().splitlines()) == 1
