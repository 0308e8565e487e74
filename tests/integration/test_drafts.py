"""Drafts in private chats (Bot API sendMessageDraft), as the user sees them: the reply
grows in a draft and arrives as exactly one message, whose text (and so the
notification) is the reply itself; a server that refuses drafts falls back to edits
with nothing lost or doubled; a 429 on a draft only delays the next draft; a long
pause of the model does not let the draft vanish; a cached digest comes whole.

The fake model moves the bot's clock by each token's time at 25 tokens a second (the
streaming fixture of test_streaming.py), and the fake Bot API reads the same clock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.render import RLM
from tests.fakes.botapi import Sent
from tests.fakes.llm import FakeLLM
from tests.integration.telegram_harness import ANSWER, Bot, is_live
from tests.integration.test_streaming import RATE, answering, final_digest, streaming

__all__ = ["streaming"]  # the fixture

QUESTION = "ماذا قال البيت الأبيض عن الاتصال؟"


def _digest_call(body: dict[str, Any]) -> bool:
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("name") == "digest"


async def test_a_digest_an_answer_and_a_translation_each_arrive_as_one_message(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    bot, _ = streaming
    fake_llm.handler = answering(tail=ANSWER)
    chat = 71
    bot.fake.message(chat, seed_text, language_code="ar")
    digest = await final_digest(bot, chat)
    assert bot.fake.sent_to(chat) == [digest] and digest.method == "sendMessage"
    assert digest.plain.splitlines()[0].strip(RLM) in seed_text  # the notification: the headline
    assert any(is_live(d) for d in bot.fake.drafts_to(chat))

    start, drafted = len(bot.fake.sent), len(bot.fake.drafts)
    bot.fake.message(chat, QUESTION, language_code="ar")
    answer = await bot.fake.wait_for(
        lambda s: s.chat_id == chat and ANSWER in s.plain, 20, start=start
    )
    assert [s for s in bot.fake.sent[start:] if s.chat_id == chat] == [answer]
    assert answer.method == "sendMessage" and len(bot.fake.drafts) > drafted

    start, drafted = len(bot.fake.sent), len(bot.fake.drafts)
    english = next(b["callback_data"] for b in digest.buttons if b["text"].startswith("English"))
    bot.fake.callback(chat, digest.message_id, english, language_code="ar")
    translated = await bot.fake.wait_for(
        lambda s: s.chat_id == chat and "•" in s.plain and s.reply_markup is not None,
        20,
        start=start,
    )
    assert [s for s in bot.fake.sent[start:] if s.chat_id == chat] == [translated]
    assert translated.method == "sendMessage" and not is_live(translated)
    later = [d for d in bot.fake.drafts[drafted:] if d.chat_id == chat]
    assert later and all(d.at < translated.at for d in later)
    # every draft of the chat was valid HTML (the fake parses it like Telegram) and
    # nothing was refused, edited or left over
    assert bot.fake.errors == [] and len(bot.fake.visible(chat)) == 3


async def test_a_group_still_grows_by_edits_and_gets_no_draft(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    bot, _ = streaming
    group = -100778
    bot.fake.command(group, f"/summarize {seed_text}", chat_type="group", user_id=36)
    final = await final_digest(bot, group)
    sent = bot.fake.sent_to(group)
    assert sent[0].plain.startswith("⏳") and final.method == "editMessageText"
    assert any(is_live(s) for s in sent) and {s.message_id for s in sent} == {sent[0].message_id}
    assert bot.fake.drafts == []


async def test_a_cached_digest_comes_whole_without_a_draft(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    bot, _ = streaming
    bot.fake.message(72, seed_text, language_code="ar")
    await final_digest(bot, 72)
    bot.fake.message(73, seed_text, language_code="ar")
    cached = await final_digest(bot, 73)
    assert bot.fake.sent_to(73) == [cached] and bot.fake.drafts_to(73) == []


@pytest.mark.parametrize(
    ("refusal", "remembered_for_all"),
    [
        ((404, "Not Found"), True),
        ((400, "Bad Request: method not found"), True),
        ((400, "Bad Request: TEXTDRAFT_PEER_INVALID"), False),
    ],
)
async def test_a_server_refusing_drafts_falls_back_to_edits_with_nothing_lost_or_doubled(
    streaming: tuple[Bot, FrozenClock],
    fake_llm: FakeLLM,
    seed_text: str,
    refusal: tuple[int, str],
    remembered_for_all: bool,
) -> None:
    bot, _ = streaming
    bot.fake.drafts_refused = refusal
    bot.fake.message(74, seed_text, language_code="ar")
    final = await final_digest(bot, 74)
    sent = bot.fake.sent_to(74)
    # today's way: one placeholder, grown by edits and edited into the digest
    assert [s.method for s in sent].count("sendMessage") == 1 and sent[0].plain.startswith("⏳")
    assert final.method == "editMessageText" and final.message_id == sent[0].message_id
    assert any(is_live(s) for s in sent) and len(bot.fake.visible(74)) == 1
    refused = [e for e in bot.fake.errors if e[0] == "sendMessageDraft"]
    assert len(refused) == 1 and len(bot.fake.errors) == 1  # no other call failed
    # remembered: this chat (and, for a server without the method, every chat) edits
    # from the start; an answer too, as a reply to the question
    fake_llm.handler = answering(tail=ANSWER)
    start = len(bot.fake.sent)
    question = bot.fake.message(74, QUESTION, language_code="ar")
    answer = await bot.fake.wait_for(
        lambda s: s.chat_id == 74 and ANSWER in s.plain and not is_live(s), 20, start=start
    )
    mine = [s for s in bot.fake.sent[start:] if s.chat_id == 74]
    assert [s.method for s in mine].count("sendMessage") == 1
    assert mine[0].reply_to == question["message"]["message_id"]
    assert {s.message_id for s in mine} == {answer.message_id}
    assert len([e for e in bot.fake.errors if e[0] == "sendMessageDraft"]) == 1
    bot.fake.message(75, seed_text + " ", language_code="en")
    other = await final_digest(bot, 75)
    tries = len([e for e in bot.fake.errors if e[0] == "sendMessageDraft"])
    assert tries == (1 if remembered_for_all else 2)
    assert len(bot.fake.visible(75)) == 1 and other.reply_markup is not None


async def test_a_429_on_drafts_only_delays_them(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    """Telegram's answer to too many drafts: wait retry_after. The bot neither edits
    nor sends anything else meanwhile (a message would fall in the same flood window),
    and tries the newest text again only once the wait is over."""
    bot, clock = streaming
    pace = 150.0  # slower than the fixture's: the bot looks at the clock every 1.5 s of it
    fake_llm.stream_rate = pace
    fake_llm.stream_tick = lambda seconds: clock.advance(seconds=seconds * pace / RATE)
    bot.fake.message(76, seed_text, language_code="ar")
    await bot.fake.wait_until(lambda: any(is_live(d) for d in bot.fake.drafts_to(76)), 20)
    bot.fake.fail(76, 429, retry_after=3, method="sendMessageDraft")  # the next draft
    final = await final_digest(bot, 76)
    assert bot.fake.sent_to(76) == [final] and final.method == "sendMessage"
    (at,) = [t for c, t in bot.fake.draft_429s if c == 76]
    tried = [d.clock_at for d in bot.fake.drafts_to(76) if d.clock_at > at]
    assert tried, "nothing was tried after the 429"
    assert min(tried) >= at + 3 - 0.1, (at, tried)  # not before retry_after had passed
    assert [e[1] for e in bot.fake.errors] == [429]


async def test_a_long_pause_of_the_model_refreshes_the_draft(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    """A draft lasts about 30 s: a model that stops for a minute mid-digest (a slow
    local server) must not leave the user with nothing on screen."""
    bot, clock = streaming
    bot.fake.draft_ttl = 30.0
    paused: list[float] = []

    async def pause(body: dict[str, Any], chunk: int) -> None:
        if chunk == 60 and _digest_call(body) and not paused:
            paused.append(clock.now().timestamp())
            for _ in range(12):  # a minute of the model's time, 5 s at a time; the
                clock.advance(seconds=5)  # machine waits so the bot can look at the clock
                await asyncio.sleep(0.3)

    fake_llm.stream_pause = pause
    bot.fake.message(77, seed_text, language_code="ar")
    final: Sent = await final_digest(bot, 77)
    assert paused, "the model did not pause"
    during = [d for d in bot.fake.drafts_to(77) if paused[0] < d.clock_at < paused[0] + 60]
    assert len(during) >= 2, [d.clock_at - paused[0] for d in bot.fake.drafts_to(77)]
    assert bot.fake.vanished == []  # never older than 30 s before the next one
    assert bot.fake.sent_to(77) == [final]


async def test_a_user_who_blocked_the_bot_gets_no_message_tried_after_the_draft_403(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    bot, _ = streaming
    bot.fake.command(78, "/language ar", language_code="ar")
    await bot.reply(78)
    store = bot.services.store
    assert await store.redis.exists(store.keys.user(78))
    bot.fake.fail(78, 403, method="sendMessageDraft", times=10)
    bot.fake.fail(78, 403, times=10)
    bot.fake.message(78, seed_text, language_code="ar")
    blocked = ("sendMessageDraft", 403, "Forbidden: bot was blocked by the user")
    await bot.fake.wait_until(lambda: blocked in bot.fake.errors)
    await bot.settled()
    assert [e for e in bot.fake.errors if e[0] != "sendMessageDraft"] == []
    assert bot.fake.errors.count(blocked) == 1
    assert not await store.redis.exists(store.keys.user(78))  # forgotten, as after a 403
