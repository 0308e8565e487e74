"""Errors reach users in their language, marked to read right to left in Arabic.

The real Application polls the fake Bot API; pages come from the local page server.
Every failure below answers an Arabic user with an Arabic sentence: once links and the
bot's /commands are taken out, no Latin letter is left (the English `detail` of the
error is for logs only). Failed requests also give their rate unit back.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

from bot.briefings import sources as srcs
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.render import RLM, strip_marks
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI, Sent
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot, running_bot
from tests.integration.test_feeds import rss
from tests.unit.test_rtl import first_strong

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"


def latin_outside_links_and_commands(text: str) -> list[str]:
    """The Latin words of `text` once URLs (anything with "://") and /commands are removed."""
    text = strip_marks(text)
    text = re.sub(r"\S*://\S*", " ", text)
    text = re.sub(r"(?<![\w/])/[A-Za-z_]+", " ", text)
    return re.findall(r"[A-Za-z]+", text)


def assert_reads_right_to_left(reply: Sent) -> None:
    for line in reply.plain.split("\n"):
        if re.search(r"[\u0600-\u06FF]", line):
            assert line.startswith(RLM), line
            assert first_strong(line) == "rtl", line


async def test_failures_answer_arabic_users_in_arabic_only(bot: Bot, pages: PageServer) -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        await resp.write(b"<p>start")
        await release.wait()  # set only after the bot gave up
        return resp

    slow = pages.add_handler("/slow", stall)
    pdf = pages.add("/report.pdf", b"%PDF-1.4 a report", content_type="application/pdf")
    bot.services.summarizer.fetcher.total_timeout = 0.5  # our own fetcher's limit, not a client
    cases: list[tuple[str, str]] = [
        ("/summarize ftp://example.com/file", "ftp"),
        ("ftp://example.com/file", "ftp (plain message)"),
        ("/summarize http://", "bare http"),
        (pages.url("/nope"), "404"),
        ("http://10.1.2.3/news", "private address"),
        (slow, "timeout"),
        (pdf, "pdf"),
        ("/summarize خبر قصير جدًا", "too short"),
        ("/addsource ftp://x", "addsource ftp"),
    ]
    chat = 61
    try:
        for text, what in cases:
            if text.startswith("/"):
                bot.fake.command(chat, text, language_code="ar")
            else:
                bot.fake.message(chat, text, language_code="ar")
            reply = await bot.reply(chat, wait=15)
            plain = strip_marks(reply.plain)
            assert re.search(r"[\u0600-\u06FF]", plain), (what, plain)
            assert latin_outside_links_and_commands(reply.plain) == [], (what, plain)
            assert_reads_right_to_left(reply)
    finally:
        release.set()


async def test_scheme_errors_not_too_short_for_summarize_links(bot: Bot) -> None:
    bot.fake.command(62, "/summarize ftp://x", language_code="en")
    reply = (await bot.reply(62)).plain
    assert "Links of type ftp: are not supported" in reply and "too short" not in reply
    bot.fake.command(62, "/summarize http://", language_code="en")
    reply = (await bot.reply(62)).plain
    assert "no host name" in reply and "too short" not in reply
    bot.fake.command(62, "/summarize javascript:alert(1)", language_code="en")
    assert "javascript" in (await bot.reply(62)).plain


async def test_plain_replies_and_sources_read_right_to_left(
    bot: Bot, pages: PageServer, store: Store
) -> None:
    feed = pages.add(
        "/bbc.xml", rss("BBC عربي", [("خبر", "http://x.example/1", "")]), "application/rss+xml"
    )
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        await srcs.add_source(store, fetcher, 63, feed)
    bot.fake.command(63, "/sources", language_code="ar")
    listing = await bot.reply(63, contains="BBC")
    assert any(strip_marks(line).startswith("• BBC") for line in listing.plain.split("\n"))
    assert_reads_right_to_left(listing)
    # conv.say: usage, unknown command; and an error
    for command in ("/summarize", "/nosuchcommand", "/addsource", "/summarize ftp://x"):
        bot.fake.command(63, command, language_code="ar")
        assert_reads_right_to_left(await bot.reply(63))


async def test_failed_links_keep_their_rate_unit(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """Issue 18 item 8: a link that was fetched (or refused by the address guard after
    resolving it) did work, and keeps its unit; each failure is still explained."""
    pdf = pages.add("/doc.pdf", b"%PDF-1.4 x", content_type="application/pdf")
    failing = [pages.url("/missing-1"), "http://10.9.8.7/a", pdf, pages.url("/missing-2")]
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=3) as bot:
        replies = []
        for link in failing:  # one more failure than the per-minute allowance
            bot.fake.message(64, link, language_code="en")
            replies.append((await bot.reply(64)).plain)
    assert not any("too fast" in reply for reply in replies[:3]), replies
    assert "too fast" in replies[3]
