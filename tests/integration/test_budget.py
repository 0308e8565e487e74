"""Issue 11 point 3: the daily token budget caps what a user spends, and a huge text
makes a bounded number of LLM calls.

The bound: every request that may call the LLM first reserves its estimated cost
(`LLMSummarizer.estimate`) atomically from the day's budget, and settles to its true
cost after. So the day's spending is at most DAILY_TOKEN_BUDGET plus, per admitted
request, what it spent over its estimate; the estimate already counts one corrective
retry per written digest, so only further retries (invalid JSON twice, a translation
after a refused language) can overrun it.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.domain import Article
from bot.ingest.extract import extract_text
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.render import render_digest_html
from bot.store.redis import Store
from bot.summarize.service import SummarizeService
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import article_page, model, running_bot

BUDGET_AR = "استهلكت حصة التلخيص لهذا اليوم."
CUT = {
    "ar": "هذا المقال طويل جدًا: يغطي الملخص الجزء الأول منه فقط.",
    "en": "This article is very long: the summary covers its first part only.",
}


def long_text(seed: Article, copies: int, tag: str) -> str:
    return "\n\n".join(f"{p} ({tag} {i})" for i in range(copies) for p in seed.paragraphs)


async def test_three_big_links_at_once_stay_within_the_budget(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    pages: PageServer,
    seed_text: str,
) -> None:
    seed = extract_text(seed_text)
    links = [
        pages.add(f"/big/{n}", article_page(long_text(seed, 5, f"نسخة {n}"))) for n in range(3)
    ]
    user, budget = 71, 20_000
    async with running_bot(
        settings,
        store,
        botapi,
        fake_llm,
        daily_token_budget=budget,
        llm_max_input_tokens=1200,
    ) as bot:
        pos = len(bot.fake.sent)
        for link in links:
            bot.fake.message(user, link, user_id=user, language_code="ar")
        replies = []
        for _ in links:  # the three answers, in whatever order they come
            final = await bot.fake.wait_for(
                lambda s: s.chat_id == user and ("•" in s.plain or BUDGET_AR in s.plain),
                60,
                start=pos,
            )
            pos = bot.fake.sent.index(final) + 1
            replies.append(final)
        spent = await bot.services.limits.tokens_today(user)
    answered = [r for r in replies if "•" in r.plain]
    refused = [r for r in replies if BUDGET_AR in r.plain]
    assert answered and len(answered) + len(refused) == 3
    # the budget bit: a request was refused, or cut to what was left (a digest of its start)
    assert refused or any(CUT["ar"] in r.plain for r in answered)
    reported = sum(
        sum(len(str(m.get("content", ""))) for m in body["messages"]) // 3
        + max(1, len(model(body)) // 3)
        for body in fake_llm.requests
    )
    assert spent == reported  # settled to the true cost, every call charged
    assert 0 < spent <= budget


async def test_a_5_mb_text_makes_at_most_the_cap_of_calls_and_says_it_was_cut(
    settings: Settings, store: Store, fake_llm: FakeLLM, seed_text: str
) -> None:
    fake_llm.handler = model
    cap = 4
    cfg = settings.model_copy(update={"summary_max_parts": cap})
    seed = extract_text(seed_text)
    text = long_text(seed, 1 + 5_000_000 // len(seed.text), "فقرة")
    assert len(text.encode()) > 5_000_000
    svc = SummarizeService(cfg, store, fetcher=Fetcher.from_settings(cfg), llm=LLMClient(cfg))
    try:
        digest = await svc.summarize(seed.model_copy(update={"text": text}), lang="ar")
    finally:
        await svc.aclose()
    assert digest.path == "llm" and digest.cut
    # cap map calls, then the reduce call (and at most its one corrective retry)
    assert fake_llm.calls <= cap + 2
    for ui in ("ar", "en"):
        assert CUT[ui] in render_digest_html(digest, ui)


def test_cut_note_is_in_both_locales() -> None:
    root = Path(__file__).parents[2] / "bot" / "locales"
    for lang, note in CUT.items():
        assert note in (root / f"{lang}.toml").read_text("utf-8")


async def test_a_question_that_cannot_fit_the_budget_is_refused_before_any_call(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """A follow-up question reserves its estimate too: with less left than an answer may
    cost, it is refused with the budget message and nothing is spent."""
    link = pages.add(
        "/q",
        (
            Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"
        ).read_bytes(),
    )
    user, budget = 72, 20_000
    async with running_bot(settings, store, botapi, fake_llm, daily_token_budget=budget) as bot:
        bot.fake.message(user, link, user_id=user, language_code="ar")
        await bot.reply(user, contains="•", wait=30)
        limits = bot.services.limits
        day_key = store.keys.tokens(user, limits.clock.now().date().isoformat())
        await store.redis.set(day_key, budget - 5_000)  # little left today
        calls = fake_llm.calls
        bot.fake.message(user, "من شارك في الاتصال؟", user_id=user, language_code="ar")
        sorry = await bot.reply(user)
        assert BUDGET_AR in sorry.plain
        assert fake_llm.calls == calls
        assert await limits.tokens_today(user) == budget - 5_000


async def test_a_big_article_against_a_small_budget_left_gets_a_digest_of_its_start(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    pages: PageServer,
    seed_text: str,
) -> None:
    """Its full estimate does not fit what is left today, but a few map-reduce parts
    do: the user gets a digest of the start, noted as cut (it was refused outright),
    within the budget. With less left than one part costs, it is refused as before."""
    seed = extract_text(seed_text)
    link = pages.add("/big/start", article_page(long_text(seed, 5, "جزء")))
    user, budget = 73, 20_000
    async with running_bot(
        settings, store, botapi, fake_llm, daily_token_budget=budget, llm_max_input_tokens=1200
    ) as bot:
        limits = bot.services.limits
        day_key = store.keys.tokens(user, limits.clock.now().date().isoformat())
        await store.redis.set(day_key, budget - 10_000)
        bot.fake.message(user, link, user_id=user, language_code="ar")
        digest = await bot.reply(user, contains="•", wait=60)
        assert CUT["ar"] in digest.plain
        assert budget - 10_000 < await limits.tokens_today(user) <= budget
        calls = fake_llm.calls
        await store.redis.set(day_key, budget - 2_000)  # not even one part's worth
        bot.fake.message(
            user, link.replace("start", "start?again"), user_id=user, language_code="ar"
        )
        refused = await bot.reply(user, contains=BUDGET_AR, wait=30)
        assert refused.plain and fake_llm.calls == calls
