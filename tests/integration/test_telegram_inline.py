"""Inline mode end to end (issue 12): `@bot <link>` answers with the digest as an
article result, from the cache at once, in the asking user's language; a link not
summarized in time offers "summarize in the bot", whose deep link gives the digest in
the private chat; the per-user rate limit holds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot, running_bot

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"


@pytest.fixture
def link(pages: PageServer) -> str:
    return pages.add("/news/syria", REAL.read_bytes())


async def inline_answer(bot: Bot, user: int, query: str, lang: str) -> dict[str, Any]:
    start = len(bot.fake.inline_answers)
    bot.fake.inline_query(user, query, language_code=lang)
    await bot.fake.wait_until(lambda: len(bot.fake.inline_answers) > start, 15)
    return bot.fake.inline_answers[start]


@pytest.mark.parametrize(("lang", "label"), [("ar", "المصدر"), ("en", "Source")])
async def test_a_link_answers_with_its_digest_in_the_users_language(
    bot: Bot, fake_llm: FakeLLM, link: str, lang: str, label: str
) -> None:
    answer = await inline_answer(bot, 51, f"  {link} ", lang)
    (result,) = answer["results"]
    assert result["type"] == "article" and result["title"] and result["description"]
    content = result["input_message_content"]
    assert content["parse_mode"] == "HTML" and "<b>" in content["message_text"]
    assert result["reply_markup"]["inline_keyboard"][0][0] == {"text": label, "url": link}
    assert answer["is_personal"] is True
    mark = "\u200f" if lang == "ar" else "\u200e"  # the headline's direction: its language
    assert content["message_text"].startswith(f"<b>{mark}")
    # asked again: from the cache, no new model call
    calls = len(fake_llm.requests)
    again = await inline_answer(bot, 52, link, lang)
    assert again["results"][0]["title"] == result["title"]
    assert len(fake_llm.requests) == calls


async def test_not_a_link_gets_a_hint_button(bot: Bot) -> None:
    answer = await inline_answer(bot, 53, "hello there", "ar")
    assert answer["results"] == []
    assert answer["button"]["text"] == "اكتب رابط مقال بعد اسم البوت"


@pytest.mark.parametrize(("lang", "button"), [("ar", "لخّصه في البوت"), ("en", "Summarize in")])
async def test_an_uncached_link_offers_the_bot_and_the_digest_waits_there(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    link: str,
    lang: str,
    button: str,
) -> None:
    async with running_bot(settings, store, botapi, fake_llm, inline_deadline_seconds=0) as bot:
        answer = await inline_answer(bot, 54, link, lang)
        assert answer["results"] == []
        assert answer["button"]["text"].startswith(button)
        param = answer["button"]["start_parameter"]
        assert param.startswith("i_") and len(param) <= 64
        bot.fake.command(54, f"/start {param}", language_code=lang)
        digest = await bot.fake.wait_for(
            lambda s: s.chat_id == 54 and "•" in s.plain and s.reply_markup is not None, 15
        )
        assert digest.plain.startswith("\u200f" if lang == "ar" else "\u200e")
        # an unknown or expired parameter is an ordinary /start
        bot.fake.command(54, "/start i_nothing", language_code="en")
        await bot.reply(54, contains="Hello")


async def test_inline_respects_the_rate_limit(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    links = [pages.add(f"/n/{i}", REAL.read_bytes()) for i in range(3)]
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=1) as bot:
        first = await inline_answer(bot, 55, links[0], "en")
        assert len(first["results"]) == 1
        second = await inline_answer(bot, 55, links[1], "en")
        assert second["results"] == [] and second["button"]["start_parameter"].startswith("i_")


async def test_an_inline_digest_reserves_from_the_daily_budget_first(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, link: str
) -> None:
    """Inline mode spends the same budget as the chat: a link whose estimated cost does
    not fit in what is left today makes no model call, and offers the bot instead (where
    the user is told about the allowance in their language)."""
    async with running_bot(settings, store, botapi, fake_llm, daily_token_budget=200) as bot:
        answer = await inline_answer(bot, 56, link, "en")
        assert answer["results"] == []
        assert answer["button"]["text"].startswith("Summarize in")
        assert fake_llm.requests == []


async def test_a_failed_inline_link_is_logged_by_host_only(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """A user's link may carry a token in its query: the log line names the host only."""
    with caplog.at_level(logging.INFO):
        await inline_answer(bot, 57, "http://10.0.0.9/private?key=user-secret-42", "en")
    assert "inline digest of http://10.0.0.9/… failed" in caplog.text
    assert "user-secret-42" not in caplog.text
