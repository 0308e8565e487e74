"""Hostile files through the real bot (fake Bot API): the sender gets a clear message
in their language, everyone else is answered meanwhile, nothing is stored, and the
bot stops while a reader is stuck (issue 18, items 3 and 7, and its load test)."""

from __future__ import annotations

import asyncio
import json

from bot import metrics
from bot.config import Settings
from bot.store.redis import Store
from bot.telegram.application import build_application, open_services
from bot.telegram.lifecycle import running
from tests.fakes import hostile
from tests.fakes.botapi import BotAPI, Sent
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import article_page, bot_settings, running_bot

HOSTILE = 900  # chat ids of the senders of hostile files: 900..903
ORDINARY = 1000  # chat ids of the ordinary users: 1000..1049


def is_digest(sent: Sent, chat_id: int) -> bool:
    return sent.chat_id == chat_id and "•" in sent.plain and sent.reply_markup is not None


async def test_a_crafted_pdf_gets_a_clear_message_in_arabic_and_changes_nothing(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    before = metrics.value("digestbot_reader_refusals_total", reader="pdf", reason="deadline")
    async with running_bot(settings, store, botapi, fake_llm, reader_seconds=2) as bot:
        bot.fake.document(HOSTILE, hostile.nested_forms_pdf(), "تقرير.pdf", language_code="ar")
        reply = await bot.reply(HOSTILE, contains="أعقد", wait=60)
    assert "هذا الملف أعقد من أن أقرأه" in reply.plain
    assert fake_llm.calls == 0
    assert [k async for k in store.redis.scan_iter(match=store.keys.article("*"))] == []
    after = metrics.value("digestbot_reader_refusals_total", reader="pdf", reason="deadline")
    assert after == before + 1


async def test_a_docx_of_25_million_characters_is_stored_cut_and_the_digest_says_so(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    """Issue 18 item 7: a 3.8 MB .docx became a 24.9 M-character article stored whole in
    Redis for 7 days; the article is now cut at 200,000 characters, and the digest says
    only part was read."""
    async with running_bot(settings, store, botapi, fake_llm) as bot:
        bot.fake.document(HOSTILE, hostile.long_docx(4_000_000), "long.docx")
        digest = await bot.fake.wait_for(lambda s: is_digest(s, HOSTILE), 60)
    assert "Only part of" in digest.plain
    stored = [k async for k in store.redis.scan_iter(match=store.keys.article("*"))]
    assert stored
    for key in stored:
        article = json.loads(await store.redis.get(key))
        assert len(article["text"]) <= 200_000


async def test_while_four_hostile_uploads_are_read_fifty_cached_digests_are_answered(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    pages: PageServer,
    seed_text: str,
) -> None:
    """The issue's load test: four crafted PDFs take both reader workers (two more
    wait), and fifty ordinary users asking for a cached digest are all answered before
    any of the four is done. The figure in seconds is bench/readers.py's."""
    link = pages.add("/news/economy", article_page(seed_text))
    async with running_bot(settings, store, botapi, fake_llm, reader_seconds=120) as bot:
        bot.fake.message(ORDINARY, link)  # the digest is made once, then cached
        await bot.fake.wait_for(lambda s: is_digest(s, ORDINARY), 30)
        for i in range(4):
            bot.fake.document(HOSTILE + i, hostile.nested_forms_pdf(), f"forms{i}.pdf")
        for i in range(4):  # every hostile upload is downloaded and being read or queued
            await bot.fake.wait_until(lambda c=HOSTILE + i: bot.fake.shown_to(c), 30)
        start = len(bot.fake.sent)
        for i in range(1, 51):
            bot.fake.message(ORDINARY + i, link)
        for i in range(1, 51):
            await bot.fake.wait_for(lambda s, c=ORDINARY + i: is_digest(s, c), 60, start=start)
        assert bot.services.readers.pool.busy == 2  # the hostile ones are still being read
        finished = [
            s for s in bot.fake.sent if HOSTILE <= s.chat_id < HOSTILE + 4 and "complex" in s.plain
        ]
        assert finished == []
        await bot.services.readers.aclose()  # shutting down kills them: the test ends now
        for i in range(4):  # and each sender is told, in a sentence
            await bot.fake.wait_for(
                lambda s, c=HOSTILE + i: s.chat_id == c and "too complex" in s.plain, 30
            )


async def test_the_bot_stops_while_a_reader_is_stuck(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    """A stuck reader blocked a graceful shutdown (reader threads cannot be cancelled);
    now the drain cancels the update, whose worker is killed, and closing the services
    kills any other: the bot stops long before the read's 300 s deadline."""
    cfg = bot_settings(settings, botapi, reader_seconds=300)
    app = build_application(cfg)
    services = await open_services(app, cfg, store=store)
    try:
        async with running(app, drain_seconds=1):
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=5)
            botapi.document(HOSTILE, hostile.nested_forms_pdf(), "stuck.pdf")
            await botapi.wait_until(lambda: botapi.shown_to(HOSTILE), 30)
            while services.readers.pool.busy == 0:  # noqa: ASYNC110 - the read has begun
                await asyncio.sleep(0.01)
            processes = [w.process for w in services.readers.pool._all]
            stopping = asyncio.get_running_loop().time()
    finally:
        await services.close()
    assert asyncio.get_running_loop().time() - stopping < 60
    assert not any(p.is_alive() for p in processes)
