"""Streaming where it meets the other chats: channels, groups, briefings, documents.

Uses the streaming fixture of test_streaming.py (the fake model writes token by token
and moves the bot's clock at a 25 tokens/s pace), so throttles are judged in the
model's time.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator

import pytest

from bot.clock import FrozenClock
from bot.config import Settings
from bot.store.redis import Store
from bot.telegram.live import GROUP_INTERVAL
from tests.fakes.botapi import BotAPI, Sent
from tests.fakes.llm import FakeLLM
from tests.integration.telegram_harness import NOW, Bot, is_live, running_bot
from tests.integration.test_streaming import RATE, bullets_of, final_digest

# slow enough in real time that the throttle's own waits happen while the model writes
PACE = 150.0

CHANNEL = -1009990001


@pytest.fixture
async def streaming(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> AsyncIterator[tuple[Bot, FrozenClock]]:
    clock = FrozenClock(NOW)
    fake_llm.stream_rate = PACE
    fake_llm.stream_tick = lambda seconds: _tick(clock, seconds)
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


async def test_a_channel_post_summarize_edits_at_the_group_pace(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    """Channels share the group limit (20 messages a minute): a digest asked for by a
    channel post grows there no faster than in a group (one edit per 3 s)."""
    bot, _ = streaming
    bot.fake.channel_post(CHANNEL, f"/summarize ar {seed_text}")
    final = await final_digest(bot, CHANNEL)
    live = [s for s in bot.fake.sent_to(CHANNEL) if is_live(s)]
    assert len(live) >= 2, "the digest did not grow in the channel"
    times = [model_time(s) for s in live]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= GROUP_INTERVAL - 0.2, gaps
    assert final.reply_markup is not None and bot.fake.errors == []


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
    headline = final.plain.splitlines()[0]
    live = [s for s in bot.fake.sent_to(36) if is_live(s)]
    assert live, "nothing was shown while the digest was written"
    last = live[-1]  # the translation as it was being written: a start of the final
    assert headline.startswith(last.plain.splitlines()[0]), [s.plain[:80] for s in live]
    assert set(bullets_of(last)) <= set(bullets_of(final))
    translation = [r for r in fake_llm.requests if "<digest>" in str(r["messages"])]
    assert translation and translation[0].get("stream") is True
    assert bot.fake.errors == []
