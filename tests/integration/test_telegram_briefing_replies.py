"""Questions about a briefing (issue 12): a reply to a briefing message asks about its
stories, in a private chat and in a group; the answer says which story it comes from."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from bot.briefings import subscriptions as subs
from bot.store.redis import Store
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import NOW, Bot
from tests.integration.test_telegram_groups import GROUP, _feed


@pytest.mark.parametrize(
    ("lang", "question", "cited"),
    [
        ("en", "what are the details of the second story?", "From story 2: الناتو"),
        ("ar", "ما تفاصيل الخبر الثاني؟", "من الخبر 2: الناتو"),
        # no number named: the story whose article shares the question's words
        ("ar", "ماذا قال ستولتنبرغ في بروكسل؟", "من الخبر 2: الناتو"),
    ],
)
async def test_a_reply_to_the_briefing_asks_about_its_story(
    bot: Bot, store: Store, pages: PageServer, lang: str, question: str, cited: str
) -> None:
    await _feed(store, pages, 31)
    bot.fake.command(31, "/briefing", language_code=lang)
    brief = await bot.reply(31, contains="2. ")
    bot.fake.message(31, question, reply_to=brief.message_id, language_code=lang)
    answer = await bot.reply(31, contains=cited, wait=15)
    assert answer.reply_to is not None
    assert "Send me a link" not in answer.plain and "أرسل" not in answer.plain.split("\n")[0]


async def test_in_a_group_a_reply_to_the_delivered_briefing_is_answered(
    bot: Bot, store: Store, pages: PageServer
) -> None:
    await _feed(store, pages, GROUP)
    await subs.subscribe(
        store,
        user_id=GROUP,
        chat_id=GROUP,
        hhmm=time(12),
        tz="UTC",
        lang="ar",
        now=NOW - timedelta(minutes=5),
        kind="group",
    )
    counts = await bot.services.briefings.delivery.tick(NOW + timedelta(minutes=1))
    assert counts["sent"] == 1
    (brief,) = bot.fake.sent_to(GROUP)
    bot.fake.message(
        GROUP,
        "ماذا قال الخبر الثاني عن الناتو؟",
        user_id=71,
        chat_type="supergroup",
        language_code="ar",
        reply_to=brief.message_id,
    )
    answer = await bot.reply(GROUP, contains="من الخبر 2: الناتو", wait=15)
    assert answer.reply_to is not None
    # a reply to another member's message is not for the bot
    start = len(bot.fake.sent)
    other = bot.fake.message(GROUP, "خبر جميل", user_id=72, chat_type="supergroup")
    bot.fake.message(
        GROUP,
        "ما تفاصيل الخبر الأول؟",
        user_id=71,
        chat_type="supergroup",
        reply_to=other["message"]["message_id"],
    )
    bot.fake.message(GROUP, "/help@digest_test_bot", user_id=71, chat_type="supergroup")
    help_ = await bot.reply(GROUP, contains="/subscribe")
    assert [s.message_id for s in bot.fake.sent[start:]] == [help_.message_id]


async def test_a_question_about_a_briefing_spends_the_same_daily_budget(
    bot: Bot, store: Store, pages: PageServer, fake_llm: FakeLLM
) -> None:
    """A reply to a briefing is a question like any other: when what is left of today's
    budget cannot hold its worst case, it is refused in the user's language before any
    model call (it used to skip the budget altogether)."""
    await _feed(store, pages, 33)
    bot.fake.command(33, "/briefing", language_code="en")
    brief = await bot.reply(33, contains="2. ")
    limits = bot.services.limits
    ticket = await limits.reserve(33)  # the rest of the day's budget, spent elsewhere
    left = bot.services.settings.daily_token_budget - await limits.tokens_today(33)
    await limits.hold_tokens(ticket, left - 100)
    calls = len(fake_llm.requests)
    bot.fake.message(33, "what about the second story?", reply_to=brief.message_id)
    refusal = await bot.reply(33, contains="allowance", wait=15)
    assert refusal.reply_to is None or "From story" not in refusal.plain
    assert len(fake_llm.requests) == calls
