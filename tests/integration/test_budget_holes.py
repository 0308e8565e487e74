"""Issue 18 items 8 and 9: failed requests keep the rate unit they worked for, and the
daily budget holds through a language pivot, a cut stream or a timeout, and someone
else's deep link.

Through the real bot on the fake Bot API (or the service), the fake LLM and real Redis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain import Stage
from bot.errors import BudgetExceeded
from bot.ingest.extract import extract_text
from bot.ingest.fetch import Fetcher
from bot.limits import Limits
from bot.llm.client import LLMClient
from bot.store.redis import Store
from bot.summarize.service import SummarizeService
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import Cut, FakeLLM, Timeout
from tests.fakes.models import faithful, user_text
from tests.fakes.pages import PageServer
from tests.fakes.pdfs import blank_pdf_bytes
from tests.integration.telegram_harness import running_bot

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"
REPORT = Path(__file__).parents[1] / "fixtures" / "pdfs" / "report-ar-two-column.pdf"
TOO_FAST = "too fast"
FETCH_FAILED = "couldn't fetch"


async def _answer(bot: Any, chat: int, *needles: str) -> str:
    """The next message to `chat` holding one of `needles` (a digest: "•")."""
    start = len(bot.fake.sent)
    sent = await bot.fake.wait_for(
        lambda s: s.chat_id == chat and any(n in s.plain for n in needles), 30, start=start
    )
    return str(sent.plain)


# --- item 8: a failed request keeps the unit it worked for ------------------------------


async def test_links_that_fail_to_fetch_keep_their_rate_unit(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """Fetching is work: a user cannot fire failing links past the per-minute rate."""
    dead = [pages.url(f"/gone/{i}") for i in range(4)]  # 404 pages
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=2) as bot:
        replies = []
        for link in dead:
            bot.fake.message(81, link, user_id=81, language_code="en")
            replies.append(await _answer(bot, 81, FETCH_FAILED, TOO_FAST))
    assert [FETCH_FAILED in r for r in replies] == [True, True, False, False]
    assert all(TOO_FAST in r for r in replies[2:])
    assert sum(pages.hits.values()) == 2  # the refused ones fetched nothing


async def test_a_link_refused_before_any_work_gives_its_unit_back(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """A link that is not a URL (nothing fetched) does not count against the rate."""
    link = pages.add("/ok", REAL.read_bytes())
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=1) as bot:
        bot.fake.command(82, "/summarize ftp://example.com/a", language_code="en")
        assert "ftp" in await _answer(bot, 82, "ftp")
        bot.fake.message(82, link, user_id=82, language_code="en")
        assert "•" in await _answer(bot, 82, "•", TOO_FAST)


async def test_an_unreadable_document_keeps_its_rate_unit(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    """Downloading and reading a file is work: a failed one counts like any request
    (before, every upload handed its unit back, so failing files were unlimited)."""
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=1) as bot:
        bot.fake.document(83, blank_pdf_bytes(), "scan.pdf", mime_type="application/pdf")
        assert "scanned image" in await _answer(bot, 83, "scanned image")
        bot.fake.document(83, REPORT.read_bytes(), "report.pdf", mime_type="application/pdf")
        assert TOO_FAST in await _answer(bot, 83, TOO_FAST, "•")
        assert bot.fake.downloads == ["documents/file_1"]  # the second was never fetched


async def test_a_failing_inline_link_keeps_its_rate_unit(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    good = pages.add("/good", REAL.read_bytes())
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=1) as bot:
        for query in (pages.url("/gone"), good):
            start = len(bot.fake.inline_answers)
            bot.fake.inline_query(84, query, language_code="en")
            await bot.fake.wait_until(lambda n=start: len(bot.fake.inline_answers) > n, 15)
        failed, second = bot.fake.inline_answers[-2:]
    assert failed["results"] == [] and second["results"] == []  # over the rate: the bot's button
    assert second["button"]["start_parameter"].startswith("i_")
    assert pages.hits["/good"] == 0 and fake_llm.calls == 0


# --- item 9: the budget holds -------------------------------------------------------------


def _arabic_only(body: dict[str, Any]) -> str:
    """A small model that writes Arabic whatever it is asked (translations excepted)."""
    if "<digest>" in user_text(body):
        return faithful(body)
    messages = [
        {**m, "content": str(m.get("content", "")).replace("in English", "in Arabic")}
        for m in body["messages"]
    ]
    return faithful({**body, "messages": messages})


async def test_settling_takes_the_counter_at_most_one_call_past_the_budget(
    settings: Settings, store: Store
) -> None:
    """A request that spent far more than it held (a server counting tokens finer than
    our estimate, retries) used to push the counter anywhere: 36,000 of 20,000."""
    limits = Limits(store, settings.model_copy(update={"daily_token_budget": 20_000}))
    ticket = await limits.reserve(91)
    held = await limits.hold_tokens(ticket, 15_000)
    await limits.settle(ticket, cached=False, tokens=36_000, held=held)
    one_call = settings.llm_max_input_tokens + 2600
    assert 20_000 <= await limits.tokens_today(91) <= 20_000 + one_call


async def test_the_pivot_is_held_for_and_no_call_starts_past_the_hold(
    settings: Settings, store: Store, fake_llm: FakeLLM, seed_text: str
) -> None:
    """An English digest of an Arabic article may need the Arabic digest and its
    translation (a model that will not write English): the direct digest is held
    before the first call, the Arabic digest before the pivot starts, and once the
    work has spent what was held, no further call starts (the offline digest comes
    instead)."""
    service = SummarizeService(
        settings, store, fetcher=Fetcher.from_settings(settings), llm=LLMClient(settings)
    )
    article = extract_text(seed_text)
    fake_llm.handler = _arabic_only
    asked: list[int] = []

    async def tiny_hold(tokens: int) -> int:  # holds it, but pretends only 100 were left
        asked.append(tokens)
        return 100

    try:
        summarizer = service.maker.summarizer
        assert summarizer is not None
        made = await service.make(article, lang="en", length="short", hold=tiny_hold)
    finally:
        await service.aclose()
    direct = summarizer.estimate(article, lang="en", length="short")
    arabic = summarizer.estimate(article, lang="ar", length="short")
    assert asked == [direct, arabic]
    assert fake_llm.calls == 1 and made.cost.calls == 1  # the direct try, then it stopped
    assert made.digest.path == "extractive" and made.digest.translation_note


async def test_a_pivot_the_budget_cannot_hold_never_starts(
    settings: Settings, store: Store, fake_llm: FakeLLM, seed_text: str
) -> None:
    """What is left covers the direct digest but not the pivot's Arabic digest: no
    pivot call is made, and the reader still gets a digest (the offline one)."""
    service = SummarizeService(
        settings, store, fetcher=Fetcher.from_settings(settings), llm=LLMClient(settings)
    )
    article = extract_text(seed_text)
    fake_llm.handler = _arabic_only
    held = 0

    async def hold(tokens: int) -> int:
        nonlocal held
        if held:  # the second hold (the pivot's) does not fit
            raise BudgetExceeded("no room for the pivot", left=10)
        held = tokens
        return held

    try:
        made = await service.make(article, lang="en", length="short", hold=hold)
    finally:
        await service.aclose()
    assert fake_llm.calls == made.cost.calls == 1  # the direct try only: no pivot call
    assert made.digest.path == "extractive"


async def test_a_timed_out_call_is_charged_what_it_sent(
    settings: Settings, store: Store, fake_llm: FakeLLM, seed_text: str
) -> None:
    """The server read the whole prompt before the client gave up: that is spent (it
    was charged 0 tokens)."""
    fast = settings.model_copy(update={"llm_timeout_seconds": 0.5})
    service = SummarizeService(
        fast, store, fetcher=Fetcher.from_settings(fast), llm=LLMClient(fast)
    )
    fake_llm.queue(Timeout(3))
    try:
        digest = await service.summarize(extract_text(seed_text), lang="ar")
    finally:
        await service.aclose()
    assert digest.path == "extractive"  # the offline digest, charged the prompt it sent
    assert digest.llm_calls == 1 and digest.tokens_in > 500


async def test_a_stream_cut_mid_reply_is_charged_what_was_sent_and_streamed(
    settings: Settings, store: Store, fake_llm: FakeLLM, seed_text: str
) -> None:
    """The connection dropped while the digest was being written: the prompt and the
    reply so far were spent (it was charged 0 tokens)."""
    service = SummarizeService(
        settings, store, fetcher=Fetcher.from_settings(settings), llm=LLMClient(settings)
    )
    article = extract_text(seed_text)
    reply = json.dumps({"headline": article.title, "bullets": [article.text[:600]]})
    fake_llm.queue(Cut(reply, chars=300))
    shown: list[Stage] = []

    async def progress(stage: Stage) -> None:  # a user watching: the reply is streamed
        shown.append(stage)

    try:
        digest = await service.summarize(article, lang="ar", progress=progress)
    finally:
        await service.aclose()
    assert fake_llm.requests[0].get("stream") is True
    assert digest.path == "extractive" and digest.llm_calls == 1
    assert digest.tokens_in > 500 and digest.tokens_out >= 50


async def test_someone_elses_deep_link_asks_before_spending_the_openers_allowance(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """An inline "summarize in the bot" link opened by another user does not summarize
    on their allowance unasked: they get the link's site and a button first."""
    link = pages.add("/shared", REAL.read_bytes())
    async with running_bot(settings, store, botapi, fake_llm, inline_deadline_seconds=0) as bot:
        bot.fake.inline_query(86, link, language_code="en")
        await bot.fake.wait_until(lambda: len(bot.fake.inline_answers) > 0, 15)
        param = bot.fake.inline_answers[0]["button"]["start_parameter"]
        await bot.fake.wait_until(lambda: fake_llm.calls > 0, 15)  # the creator's own digest
        calls = fake_llm.calls
        bot.fake.command(87, f"/start {param}", language_code="en")
        offer = await bot.fake.wait_for(lambda s: s.chat_id == 87, 15)
        assert "127.0.0.1" in offer.plain and "allowance" in offer.plain
        assert await bot.services.limits.tokens_today(87) == 0
        (row,) = (offer.reply_markup or {})["inline_keyboard"]
        bot.fake.callback(87, offer.message_id, row[0]["callback_data"], language_code="en")
        digest = await _answer(bot, 87, "•")
    assert digest and fake_llm.calls == calls  # the cached digest: nothing new spent


def test_the_deep_link_offer_is_in_both_locales() -> None:
    import tomllib

    root = Path(__file__).parents[2] / "bot" / "locales"
    for lang in ("ar", "en"):
        inline = tomllib.loads((root / f"{lang}.toml").read_text("utf-8"))["inline"]
        assert "{host}" in inline["confirm_link"] and inline["confirm_button"]


async def test_briefing_charges_the_items_only_the_users_own_sources_need(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """/briefing summarized a user's own feeds for free, as often as they liked: the
    items no operator feed carries are charged to them (shared stories stay free, and
    an item already summarized costs nothing)."""
    from bot.briefings import sources as srcs
    from bot.briefings.feeds import FeedPoller
    from bot.clock import FrozenClock
    from tests.integration.telegram_harness import NOW
    from tests.integration.test_briefing_cli import llm_item, publish

    feeds = publish(pages, NOW)
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        own = [await srcs.add_source(store, fetcher, 88, f.url) for f in feeds]
        await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all(own)
    async with running_bot(settings, store, botapi, fake_llm) as bot:
        fake_llm.handler = llm_item
        bot.fake.command(88, "/briefing", language_code="ar")
        await bot.fake.wait_for(lambda s: s.chat_id == 88 and "•" in s.plain, 30)
        charged = await bot.services.limits.tokens_today(88)
        calls = fake_llm.calls
        start = len(bot.fake.sent)
        # now cached, and (the briefing remembers what it told) "nothing new" or a repeat
        bot.fake.command(88, "/briefing", language_code="ar")
        await bot.fake.wait_for(lambda s: s.chat_id == 88 and "موجز" in s.plain, 30, start=start)
        again = await bot.services.limits.tokens_today(88)
    spent = sum(sum(len(str(m["content"])) for m in b["messages"]) // 3 for b in fake_llm.requests)
    assert calls >= 1 and charged >= spent > 0
    assert again == charged and fake_llm.calls == calls
