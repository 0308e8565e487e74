"""Streaming where it meets the other chats: channels, groups, briefings, documents.

Uses the streaming fixture of test_streaming.py (the fake model writes token by token
and moves the bot's clock at a 25 tokens/s pace), so throttles are judged in the
model's time.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from datetime import time as dt_time
from datetime import timedelta

import pytest

from bot.briefings import subscriptions as subs
from bot.clock import FrozenClock
from bot.config import Settings
from bot.render import RLM
from bot.store.redis import Store
from bot.telegram.live import GROUP_INTERVAL
from tests.fakes.botapi import BotAPI, Sent
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import NOW, Bot, is_live, running_bot
from tests.integration.test_streaming import RATE, bullets_of, final_digest
from tests.integration.test_telegram_groups import GROUP, _feed, eventually

# slow enough in real time that the throttle's own waits happen while the model writes
PACE = 150.0
# an edit is timed when the fake Bot API receives it: the model's clock runs 6 times the
# machine's, so a slow round trip shifts it (0.1 s of the machine: 0.6 s)
SLACK = 1.0

CHANNEL = -1009990001


@pytest.fixture
async def streaming(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> AsyncIterator[tuple[Bot, FrozenClock]]:
    clock = FrozenClock(NOW)
    fake_llm.stream_rate = PACE
    fake_llm.stream_tick = lambda seconds: _tick(clock, seconds)
    botapi.clock = lambda: clock.now().timestamp()
    TICKS.clear()
    async with running_bot(settings, store, botapi, fake_llm, clock=clock) as bot:
        yield bot, clock


TICKS: list[tuple[float, float]] = []  # (the machine's time, the bot clock's) per token


def _tick(clock: FrozenClock, seconds: float) -> None:
    clock.advance(seconds=seconds * PACE / RATE)
    TICKS.append((time.perf_counter(), clock.now().timestamp()))


def model_time(sent: Sent) -> float:
    """The bot clock's time when `sent` reached the fake Bot API."""
    return max((c for t, c in TICKS if t <= sent.at), default=0.0)


async def final_in_channel(bot: Bot) -> Sent:
    """The final digest in the channel (no keyboard there: a pasted text has no source
    link, and readers get no buttons that post)."""
    return await bot.fake.wait_for(
        lambda s: s.chat_id == CHANNEL and "•" in s.plain and not is_live(s), 20
    )


async def test_a_channel_post_summarize_edits_at_the_group_pace(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    """Channels share the group limit (20 messages a minute): a digest asked for by a
    channel post grows there no faster than in a group (one edit per 3 s)."""
    bot, _ = streaming
    bot.fake.channel_post(CHANNEL, f"/summarize ar {seed_text}")
    final = await final_in_channel(bot)
    live = [s for s in bot.fake.sent_to(CHANNEL) if is_live(s)]
    assert len(live) >= 2, "the digest did not grow in the channel"
    times = [model_time(s) for s in live]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= GROUP_INTERVAL - SLACK, gaps
    assert "•" in final.plain and bot.fake.errors == []


async def test_an_english_digest_of_an_arabic_article_shows_the_translation_growing(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    """The language pivot: the model's own English attempt fails its checks, so the
    Arabic digest is made and translated. The translation grows on screen too, and
    what is on screen last before the final is the translation, not the rejected
    attempt."""
    bot, _ = streaming
    bot.fake.message(36, seed_text, language_code="en")
    final = await final_digest(bot, 36)
    assert bot.fake.sent_to(36) == [final] and final.method == "sendMessage"
    headline = final.plain.splitlines()[0]
    live = [d for d in bot.fake.drafts_to(36) if is_live(d)]
    assert live, "nothing was shown while the digest was written"
    last = live[-1]  # the translation as it was being written: a start of the final
    assert headline.startswith(last.plain.splitlines()[0]), [s.plain[:80] for s in live]
    assert set(bullets_of(last)) <= set(bullets_of(final))
    assert len({len(bullets_of(d)) for d in live}) > 1  # it grew point by point
    assert [r for r in fake_llm.requests if "<digest>" in str(r["messages"])]
    assert bot.fake.errors == []


async def test_a_document_grows_in_a_draft_and_arrives_as_one_message(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    """A file upload in a private chat: a draft ("reading"), the digest growing in it,
    then the finished digest as the one message; nothing left over."""
    bot, _ = streaming
    bot.fake.document(37, seed_text.encode(), "article.txt", caption="ar", language_code="en")
    final = await final_digest(bot, 37)
    assert bot.fake.sent_to(37) == [final] and final.method == "sendMessage"
    drafts = bot.fake.drafts_to(37)
    assert drafts[0].plain.startswith("⏳") and any(is_live(d) for d in drafts)
    assert all(d.at < final.at for d in drafts)
    assert RLM in final.plain.splitlines()[0]  # the Arabic digest the caption asked for
    assert bot.fake.errors == []


async def test_a_briefing_question_in_a_group_streams_into_one_reply(
    streaming: tuple[Bot, FrozenClock], store: Store, pages: PageServer
) -> None:
    """A reply to the group's briefing: the answer grows in one message that replies
    to the question, and that message becomes the final answer (no leftover, no
    second copy)."""
    bot, _ = streaming
    await _feed(store, pages, GROUP)
    await subs.subscribe(
        store,
        user_id=GROUP,
        chat_id=GROUP,
        hhmm=dt_time(12),
        tz="UTC",
        lang="ar",
        now=NOW - timedelta(minutes=5),
        kind="group",
    )
    assert (await bot.services.briefings.delivery.tick(NOW + timedelta(minutes=1)))["sent"] == 1
    (brief,) = bot.fake.sent_to(GROUP)
    start = len(bot.fake.sent)
    question = bot.fake.message(
        GROUP,
        "ماذا قال الخبر الثاني عن الناتو؟",
        user_id=71,
        chat_type="supergroup",
        language_code="ar",
        reply_to=brief.message_id,
    )
    qid = question["message"]["message_id"]
    answer = await bot.reply(GROUP, contains="من الخبر 2: الناتو", wait=20)
    sent = [s for s in bot.fake.sent[start:] if s.chat_id == GROUP]
    assert any(is_live(s) for s in sent), "the answer did not grow"
    assert [s.method for s in sent].count("sendMessage") == 1 and sent[0].reply_to == qid
    assert {s.message_id for s in sent} == {answer.message_id} and sent[-1] is answer
    assert answer.reply_to == qid and bot.fake.errors == []


async def test_channel_readers_cannot_make_the_bot_post_in_the_channel(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    """A digest posted in a channel (an admin's /summarize) carries no buttons that
    post: any reader could tap "English" or a question and have the bot write in the
    channel. A stale tap there does nothing."""
    bot, _ = streaming
    bot.fake.channel_post(CHANNEL, f"/summarize ar {seed_text}")
    final = await final_in_channel(bot)
    assert not [b for b in final.buttons if "callback_data" in b], final.buttons
    bot.fake.message(38, seed_text, language_code="ar")
    private = await final_digest(bot, 38)
    data = next(b["callback_data"] for b in private.buttons if "callback_data" in b)
    start = len(bot.fake.sent)
    bot.fake.callback(CHANNEL, final.message_id, data, user_id=555, chat_type="channel")
    bot.fake.message(38, "/help")
    await bot.reply(38, contains="/summarize")
    assert [s for s in bot.fake.sent[start:] if s.chat_id == CHANNEL] == []


async def test_two_digests_growing_in_one_group_share_its_edit_pace(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    """Telegram's limit is per group (20 messages a minute), not per message: two
    digests written at once in one group edit no faster together than one alone."""
    bot, _ = streaming
    group = -1009990002
    for user in (201, 202):
        bot.fake.command(group, f"/summarize ar {seed_text}", chat_type="supergroup", user_id=user)

    async def finals() -> int:
        done = [s for s in bot.fake.sent_to(group) if "•" in s.plain and s.reply_markup]
        return len(done)

    await eventually(finals, 2, timeout=20)
    live = [s for s in bot.fake.sent_to(group) if is_live(s)]
    assert len({s.message_id for s in live}) == 2, "both digests grew"
    times = [model_time(s) for s in live]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= GROUP_INTERVAL - SLACK, gaps
    assert bot.fake.errors == []
