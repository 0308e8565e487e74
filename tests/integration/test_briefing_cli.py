"""The whole briefing path: feeds -> stories -> summaries -> message -> delivery.

In-process (Composer + Delivery against the fake LLM and the fake Bot API), and as real
`python -m bot ...` subprocesses: two `run-due` processes at the same instant, and a
`kill -9` in the middle of a broadcast followed by a rerun.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from telegram import Bot

from bot.briefings import subscriptions as subs
from bot.briefings.compose import Composer
from bot.briefings.delivery import Delivery
from bot.briefings.feeds import FeedPoller
from bot.briefings.sources import Source
from bot.cli.briefing import feeds_poll, preview
from bot.clock import FrozenClock
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.store.redis import Store
from bot.telegram.sender import TelegramSender
from tests.fakes.botapi import BotAPI, parse_html
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.test_feeds import page, rss
from tests.unit.test_stories import DIFFERENT, SYNDICATED

ROOT = Path(__file__).parents[2]
# Feed entries are dated NOW - 1 h, NOW - 2 h ...; subscribers want 10:00 Riyadh (07:00 UTC).
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
AT = time(10, 0)
DUE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def llm_item(body: dict[str, Any]) -> str:
    """An item from the article message, or the translation the task asks for (the
    task is the last message, after the article's)."""
    task = body["messages"][-1]["content"]
    english = "Write in English" in task
    article = body["messages"][1]["content"]
    if "<digest>" in task:  # a translation of the Arabic item
        english = "English" in task.split("</target_language>")[0]
        nato = "الناتو" in task
        head = "NATO weighs Russian build-up" if nato else "Biden and Putin talk by phone"
        # the headline rests on the translated bullet (translate.py checks that)
        bullet = "NATO weighs the Russian build-up" if nato else "Biden and Putin talk by phone"
        bullet += " <b>&"
        return json.dumps({"translation": head if "the headline" in task else bullet})
    if "ستولتنبرغ" in article:
        head = "NATO weighs Russian build-up" if english else "الناتو يبحث الحشود الروسية"
    else:
        head = "Biden and Putin talk by phone" if english else "اتصال هاتفي بين بايدن وبوتين"
    nato = "ستولتنبرغ" in article
    if english:
        bullet = "The leaders spoke by phone <b>&"
    else:
        bullet = "يبحث الناتو الحشود الروسية." if nato else "تحدث بايدن وبوتين هاتفيا."
    return json.dumps({"headline": head, "bullets": [bullet]}, ensure_ascii=False)


def html_page(title: str, text: str) -> str:
    return page(title, [p for p in text.split("\n\n") if p.strip()])


def publish(pages: PageServer, now: datetime = NOW) -> list[Source]:
    """Two outlets: both carry the seed story (different wrappers); one also NATO."""
    a = pages.add("/alpha/1", html_page("بايدن وبوتين", SYNDICATED["copy-agency"]))
    b = pages.add("/beta/1", html_page("اتصال نادر", SYNDICATED["copy-edited"]))
    c = pages.add("/alpha/2", html_page("اجتماع الناتو", DIFFERENT["nato-meeting"] * 2))
    fa = pages.add(
        "/alpha.xml",
        rss("ألفا", [("اجتماع الناتو", c, ""), ("بايدن وبوتين", a, "")], now),
        "application/rss+xml",
    )
    fb = pages.add("/beta.xml", rss("بيتا", [("اتصال نادر", b, "")], now), "application/rss+xml")
    return [Source("ألفا", fa, "ar"), Source("بيتا", fb, "ar")]


async def ingest(store: Store, sources: list[Source]) -> None:
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        report = await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all(sources)
    assert report.new == 3, report


async def test_briefing_one_llm_call_per_story_per_language_and_valid_message(
    store: Store, pages: PageServer, fake_llm: FakeLLM, botapi: BotAPI, settings: Settings
) -> None:
    fake_llm.handler = llm_item
    sources = publish(pages)
    await ingest(store, sources)
    for uid in range(1, 31):
        await subs.subscribe(
            store,
            user_id=uid,
            chat_id=uid,
            hhmm=AT,
            tz="Asia/Riyadh",
            lang="ar" if uid % 3 else "en",
            now=NOW,
        )
    llm = LLMClient(settings)
    sender = TelegramSender(Bot(botapi.token, base_url=botapi.base_url))
    await sender.start()
    try:
        # Two "processes" (composers and deliveries) share the work on one Redis.
        c1 = Composer(store=store, llm=llm, defaults=sources)
        c2 = Composer(store=store, llm=llm, defaults=sources)
        d1 = Delivery(store=store, sender=sender, builder=c1.for_subscription, batch=5)
        d2 = Delivery(store=store, sender=sender, builder=c2.for_subscription, batch=5)
        counts = await asyncio.gather(d1.tick(DUE), d2.tick(DUE))
    finally:
        await sender.close()
        await llm.aclose()
    assert sum(c["sent"] for c in counts) == 30
    # 2 stories: the Arabic item, and its English translation item by item (its bullet,
    # its headline), whatever the number of subscribers and processes.
    assert fake_llm.calls == 6
    assert c1.llm_calls + c2.llm_calls == 6
    ar = botapi.sent_to(1)[0]
    en = botapi.sent_to(3)[0]
    assert ar.plain.count("\n\n") >= 2 and "موجز اليوم" in ar.plain and "2 مارس 2026" in ar.plain
    assert "1. " in ar.plain and "اتصال هاتفي بين بايدن وبوتين" in ar.plain
    assert "(2 مصادر)" in ar.plain  # the merged story names both outlets
    assert 'href="http://127.0.0.1' in ar.text and "ألفا" in ar.plain and "بيتا" in ar.plain
    assert "Your briefing" in en.plain and "NATO weighs" in en.plain
    assert "<b>&" in en.plain and "&lt;b&gt;&amp;" in en.text  # model text escaped
    parse_html(en.text)  # Telegram accepts it
    callbacks = [b["callback_data"] for b in ar.buttons]
    assert callbacks[-1] == "bu" and all(len(c.encode()) <= 64 for c in callbacks)
    assert len([c for c in callbacks if c.startswith("bd:")]) == 2
    # The merged story is ranked first (two sources beat one).
    assert ar.plain.index("بايدن") < ar.plain.index("الناتو")


async def test_one_tick_gives_each_subscriber_the_stories_of_their_own_sources(
    store: Store, pages: PageServer, fake_llm: FakeLLM, botapi: BotAPI, settings: Settings
) -> None:
    # Briefings are ranked and rendered once per (language, day, sources) and reused:
    # a subscriber with an extra source of their own must still get their own stories.
    fake_llm.handler = llm_item
    alpha, beta = publish(pages)
    await ingest(store, [alpha, beta])
    for uid in (1, 2, 3):
        await subs.subscribe(
            store, user_id=uid, chat_id=uid, hhmm=AT, tz="Asia/Riyadh", lang="ar", now=NOW
        )
    await store.redis.hset(store.keys.user_sources(2), alpha.id, alpha.to_json())
    llm = LLMClient(settings)
    sender = TelegramSender(Bot(botapi.token, base_url=botapi.base_url))
    await sender.start()
    try:
        composer = Composer(store=store, llm=llm, defaults=[beta])  # beta: no NATO story
        delivery = Delivery(
            store=store, sender=sender, builder=composer.for_subscription, concurrency=1
        )
        counts = await delivery.tick(DUE)  # one at a time: 2 and 3 come after 1 is built
    finally:
        await sender.close()
        await llm.aclose()
    assert counts["sent"] == 3
    one, two, three = (botapi.sent_to(uid)[0] for uid in (1, 2, 3))
    assert "اتصال هاتفي بين بايدن وبوتين" in one.plain and "الناتو" not in one.plain
    assert "الناتو يبحث الحشود الروسية" in two.plain  # from the source user 2 added
    assert three.text == one.text


async def test_offline_briefing_is_extractive(
    store: Store, pages: PageServer, botapi: BotAPI
) -> None:
    sources = publish(pages)
    await ingest(store, sources)
    composer = Composer(store=store, llm=None, defaults=sources)
    b = await composer.build(user_id=1, lang="ar", tz="Asia/Riyadh", now=NOW)
    assert len(b.items) == 2 and all(i.path == "extractive" for i in b.items)
    assert len(b.items[0].links) == 2
    from bot.briefings.message import render_html, render_text

    assert "دون اتصال" in render_text(b)
    parse_html(render_html(b))
    nothing = await composer.build(user_id=1, lang="en", tz="UTC", now=NOW, since=NOW)
    assert nothing.empty and "Nothing new" in render_text(nothing)


# --- real processes ----------------------------------------------------------------------


def env_for(settings: Settings, botapi: BotAPI, feeds_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "OPENAI", "TELEGRAM"))}
    env.update(
        REDIS_URL=str(settings.redis_url),
        REDIS_PREFIX=settings.redis_prefix,
        TELEGRAM_BOT_TOKEN=botapi.token,
        TELEGRAM_BASE_URL=botapi.url,
        OPENAI_API_KEY=settings.openai_api_key,
        OPENAI_BASE_URL=str(settings.openai_base_url),
        LLM_MODEL="fake-model",
        LLM_MAX_RETRIES="0",
        FETCH_ALLOW_HOSTS="127.0.0.1",
        FEEDS_FILE=str(feeds_file),
        BOT_DATA_DIR=str(feeds_file.parent / "data"),
        BROADCAST_RATE="1000",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


async def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def feeds_toml(tmp_path: Path, sources: list[Source]) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(
        "".join(
            f'[[feeds]]\nname = "{s.name}"\nurl = "{s.url}"\nlanguage = "{s.language}"\n\n'
            for s in sources
        ),
        "utf-8",
    )
    return path


@pytest.mark.slow
async def test_cli_poll_preview_and_two_run_due_processes_send_exactly_once(
    store: Store,
    pages: PageServer,
    fake_llm: FakeLLM,
    botapi: BotAPI,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_llm.handler = llm_item
    # `feeds poll` and `preview` run on the real clock: date the feed around it.
    real = datetime.now(UTC).replace(second=0, microsecond=0)
    env = env_for(settings, botapi, feeds_toml(tmp_path, publish(pages, real)))
    # `feeds poll` and `preview` run in-process (same functions bot.cli dispatches to).
    cfg = settings.model_copy(update={"feeds_file": Path(env["FEEDS_FILE"])})
    assert await feeds_poll(argparse.Namespace(), cfg) == 0
    assert "feeds=2 new=3" in capsys.readouterr().out
    n = 40
    for uid in range(1, n + 1):
        tz = ["Asia/Riyadh", "Europe/London"][uid % 2]
        local = (real - timedelta(minutes=30)).astimezone(ZoneInfo(tz)).time()
        await subs.subscribe(
            store,
            user_id=uid,
            chat_id=uid,
            hhmm=local,
            tz=tz,
            lang="ar",
            now=real - timedelta(hours=1),
        )
    args = argparse.Namespace(user_id=1, lang=None)
    assert await preview(args, cfg) == 0
    out = capsys.readouterr().out
    assert "موجز اليوم" in out and "1. " in out and "(2 مصادر)" in out
    # Both zones are due 30 minutes before `real`.
    now = real.isoformat()
    results = await asyncio.gather(
        run(env, "briefing", "run-due", "--now", now),
        run(env, "briefing", "run-due", "--now", now),
    )
    for code, _out, err in results:
        assert code == 0, err
    sent = sorted(s.chat_id for s in botapi.sent)
    assert sent == list(range(1, n + 1))
    totals = [int(out.split("sent=")[1].split()[0]) for _c, out, _e in results]
    assert sum(totals) == n


def test_run_due_rejects_a_bad_now() -> None:
    from bot.cli.briefing import parse_now
    from bot.errors import BadInput

    assert parse_now("2026-03-02T10:30") == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    assert parse_now("2026-03-02T13:30+03:00") == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    with pytest.raises(BadInput) as err:
        parse_now("yesterday")
    assert err.value.exit_code == 2


async def test_run_due_with_a_bad_now_names_the_option(
    settings: Settings, botapi: BotAPI, tmp_path: Path
) -> None:
    env = env_for(settings, botapi, feeds_toml(tmp_path, []))
    code, out, err = await run(env, "briefing", "run-due", "--now", "garbage")
    assert code == 2 and out == ""
    # its own message, not the generic "I need a link..." one
    assert err.strip() == (
        "error: --now is not an ISO-8601 instant, e.g. 2026-11-29T07:00:00+03:00"
    ), err


@pytest.mark.slow
async def test_kill_9_mid_broadcast_then_rerun_nobody_missed(
    store: Store,
    pages: PageServer,
    fake_llm: FakeLLM,
    botapi: BotAPI,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Bound: duplicates <= sends in flight at the kill (Delivery.concurrency = 16)."""
    fake_llm.handler = llm_item
    sources = publish(pages)
    await ingest(store, sources)
    n = 60
    for uid in range(1, n + 1):
        await subs.subscribe(
            store,
            user_id=uid,
            chat_id=uid,
            hhmm=AT,
            tz="Asia/Riyadh",
            lang="en",
            now=NOW,
        )
    botapi.latency = 0.05  # a slow Telegram, so the kill lands mid-broadcast
    env = env_for(settings, botapi, feeds_toml(tmp_path, sources), BROADCAST_RATE="40")
    now = DUE + timedelta(minutes=1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "briefing",
        "run-due",
        "--now",
        now.isoformat(),
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await botapi.wait_for(lambda s: True, timeout=30, start=14)  # 15 briefings out
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    first = len(botapi.sent)
    assert 15 <= first < n, "the kill must land mid-broadcast"
    # Still leased 30 s on: a rerun then leaves the dead process's claims alone.
    soon = now + timedelta(seconds=30)
    code, _out, err = await run(env, "briefing", "run-due", "--now", soon.isoformat())
    assert code == 0, err
    assert len(botapi.sent) - first <= n - 15  # claims held by nobody were not sent twice
    # Within 2 minutes (45 s lease, no heartbeat from the dead) the rest is delivered.
    later = now + timedelta(minutes=2)
    code, _out, err = await run(env, "briefing", "run-due", "--now", later.isoformat())
    assert code == 0, err
    chats = [s.chat_id for s in botapi.sent]
    assert set(chats) == set(range(1, n + 1))  # nobody missed
    duplicates = len(chats) - n
    assert 0 <= duplicates <= 16  # at most the sends in flight at the kill
