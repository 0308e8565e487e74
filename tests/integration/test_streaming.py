"""Streaming end to end: the digest grows in the chat while the fake model writes it.

The fake LLM streams its reply token by token; each token moves the bot's clock by the
time a 25 tokens/s model would take (`stream_tick`), so the pace is judged in the
model's time, not the test machine's (the fake Bot API reads the same clock).
Assertions are on the sequence of drafts and messages: in a private chat the reply
grows in a draft and arrives as one new message; in a group it grows by edits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.config import Settings
from bot.render import RLM
from bot.store.redis import Store
from bot.telegram.live import DRAFT_INTERVAL
from tests.fakes.botapi import BotAPI, Draft, Sent
from tests.fakes.llm import MODES, FakeLLM
from tests.integration.telegram_harness import ANSWER, NOW, Bot, is_live, model, running_bot

RATE = 25.0  # the model's tokens per second, in the bot's clock
PACE = 4000.0  # the fake's real pace (tokens per second of the test machine)


@pytest.fixture
async def streaming(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> AsyncIterator[tuple[Bot, FrozenClock]]:
    clock = FrozenClock(NOW)
    fake_llm.stream_rate = PACE
    fake_llm.stream_tick = lambda seconds: clock.advance(seconds=seconds * PACE / RATE)
    botapi.clock = lambda: clock.now().timestamp()
    async with running_bot(settings, store, botapi, fake_llm, clock=clock) as bot:
        yield bot, clock


async def final_digest(bot: Bot, chat_id: int) -> Sent:
    return await bot.fake.wait_for(
        lambda s: s.chat_id == chat_id and "•" in s.plain and s.reply_markup is not None, 20
    )


def bullets_of(sent: Sent | Draft) -> list[str]:
    return [line.strip(RLM + "• ") for line in sent.plain.splitlines() if "•" in line]


async def test_digest_grows_headline_first_then_bullets_then_keyboard(
    streaming: tuple[Bot, FrozenClock], seed_text: str
) -> None:
    bot, clock = streaming
    start: datetime = clock.now()
    bot.fake.message(31, seed_text, language_code="ar")
    final = await final_digest(bot, 31)
    model_seconds = (clock.now() - start).total_seconds()
    # one message: the finished digest itself (what the notification shows), no edit
    assert bot.fake.sent_to(31) == [final] and final.method == "sendMessage"
    assert not is_live(final) and final.reply_markup is not None
    drafts = bot.fake.drafts_to(31)
    assert drafts[0].plain.startswith("⏳")  # a stage line first ("fetching" ...)
    assert len({d.draft_id for d in drafts}) == 1  # one draft, animated
    assert all(d.at < final.at for d in drafts)  # nothing after the message
    live = [d for d in drafts if is_live(d)]
    assert live, "nothing of the digest was shown before it was complete"
    # the headline comes first, bullets only grow, each one a bullet of the final text
    headline = final.plain.splitlines()[0]
    assert all(d.plain.splitlines()[0] == headline for d in live)
    counts = [len(bullets_of(d)) for d in live]
    # (drafts merge what the model finishes within DRAFT_INTERVAL: here, at 160 times
    # the model's speed, the machine's own waits merge more, up to the whole digest;
    # point by point is measured in bench/streaming.py and test_streaming_chats.py)
    assert counts == sorted(counts) and counts[-1] >= 2
    assert all(set(bullets_of(d)) <= set(bullets_of(final)) for d in live)
    # paced: at most one draft per DRAFT_INTERVAL of the model's time (plus the first)
    assert len(drafts) <= model_seconds / DRAFT_INTERVAL + 2
    assert bot.fake.errors == []  # no draft was rejected (HTML, flood)


async def test_groups_get_fewer_edits(streaming: tuple[Bot, FrozenClock], seed_text: str) -> None:
    bot, clock = streaming
    group = -100777
    start: datetime = clock.now()
    bot.fake.command(group, f"/summarize {seed_text}", chat_type="group", user_id=35)
    final = await final_digest(bot, group)
    model_seconds = (clock.now() - start).total_seconds()
    live = [s for s in bot.fake.sent_to(group) if is_live(s)]
    assert live and len(live) <= model_seconds / 3.0 + 2
    assert final.reply_markup is not None and bot.fake.errors == []


async def test_a_streamed_bullet_that_fails_the_evidence_check_is_never_shown(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    bot, _ = streaming
    invented = "أعلنت الحكومة ميزانية قدرها 98765 مليار دولار لمشروع لم يذكره المقال."

    def lying(body: dict[str, Any]) -> str:
        reply = model(body)
        if (body.get("response_format") or {}).get("json_schema", {}).get("name") != "digest":
            return reply
        data = json.loads(reply)
        data["bullets"].insert(1, {"text": invented, "sources": [1]})
        return json.dumps(data, ensure_ascii=False)

    fake_llm.handler = lying
    bot.fake.message(32, seed_text, language_code="ar")
    final = await final_digest(bot, 32)
    shown = [*bot.fake.sent_to(32), *bot.fake.drafts_to(32)]
    assert all("98765" not in s.plain for s in shown)
    assert len(bullets_of(final)) >= 3 and bot.fake.errors == []


async def test_ten_users_one_new_article_one_llm_call(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    bot, _ = streaming
    chats = list(range(41, 51))
    for chat in chats:
        bot.fake.message(chat, seed_text, language_code="ar")
    finals = await asyncio.gather(*(final_digest(bot, chat) for chat in chats))
    assert fake_llm.calls == 1
    assert len({f.plain.splitlines()[0] for f in finals}) == 1
    # the others followed the same stream: their drafts grew too
    following = [c for c in chats if any(is_live(d) for d in bot.fake.drafts_to(c))]
    assert len(following) >= len(chats) // 2
    assert bot.fake.errors == []


async def test_a_server_that_refuses_streaming_still_gives_the_digest(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    bot, _ = streaming
    fake_llm.quirks = MODES["no-stream"]
    bot.fake.message(33, seed_text, language_code="ar")
    final = await final_digest(bot, 33)
    assert len(bullets_of(final)) >= 3
    assert [bool(r.get("stream")) for r in fake_llm.requests] == [True, False]
    assert not any(is_live(d) for d in bot.fake.drafts_to(33))  # whole at once
    assert [s.method for s in bot.fake.sent_to(33)] == ["sendMessage"]
    # remembered: the next digest does not ask for a stream again
    bot.fake.message(33, seed_text, language_code="en")
    await bot.fake.wait_for(
        lambda s: s.chat_id == 33 and "•" in s.plain and s.reply_markup is not None,
        20,
        start=len(bot.fake.sent),
    )
    assert not any(r.get("stream") for r in fake_llm.requests[2:])


def answering(tail: str = "", head: str = "") -> Any:
    """The harness's model, with answers made of the article sentence they cite, after
    `head` and before `tail` (sentences the article does not support)."""

    def handler(body: dict[str, Any]) -> str:
        reply = model(body)
        if (body.get("response_format") or {}).get("json_schema", {}).get("name") != "answer":
            return reply
        data = json.loads(reply)
        if data.get("found"):
            cited = data["answer"].removeprefix(ANSWER).strip()
            data["answer"] = " ".join(part for part in (head, cited, tail) if part)
        return json.dumps(data, ensure_ascii=False)

    return handler


async def test_a_follow_up_answer_grows_then_is_replaced_by_the_checked_one(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    bot, _ = streaming
    fake_llm.handler = answering(tail=ANSWER)
    bot.fake.message(34, seed_text, language_code="ar")
    await final_digest(bot, 34)
    start, drafted = len(bot.fake.sent), len(bot.fake.drafts)
    question = bot.fake.message(34, "ماذا قال البيت الأبيض عن الاتصال؟", language_code="ar")
    qid = question["message"]["message_id"]
    answer = await bot.fake.wait_for(
        lambda s: s.chat_id == 34 and ANSWER in s.plain and not is_live(s), 20, start=start
    )
    # one new message, the checked answer, as a reply to the question
    assert [s for s in bot.fake.sent[start:] if s.chat_id == 34] == [answer]
    assert answer.method == "sendMessage" and answer.reply_to == qid and "[" not in answer.plain
    drafts = bot.fake.drafts[drafted:]
    assert drafts[0].plain == ""  # Telegram's "Thinking…" until the first sentence
    live = [d for d in drafts if is_live(d)]
    assert live, "the answer was not shown while it was written"
    # whole checked sentences only, each a start of the final answer's text
    texts = [s.plain.splitlines()[0].strip(RLM) for s in live]
    assert all(answer.plain.strip(RLM).startswith(t.rstrip(".")) for t in texts)
    assert all(ANSWER not in t for t in texts)  # not in the article: never shown live
    assert bot.fake.errors == []


async def test_a_streamed_answer_never_shows_a_sentence_before_it_is_checked(
    streaming: tuple[Bot, FrozenClock], fake_llm: FakeLLM, seed_text: str
) -> None:
    """Issue 18 point 9: the words of an answer were shown as they came, so a link or a
    /command the model wrote was on screen (and tappable) before any check."""
    bot, _ = streaming
    fake_llm.handler = answering(head="زوروا https://evil.example/login وأرسلوا /forget للمتابعة.")
    bot.fake.message(35, seed_text, language_code="ar")
    await final_digest(bot, 35)
    start, drafted = len(bot.fake.sent), len(bot.fake.drafts)
    bot.fake.message(35, "ماذا قال البيت الأبيض عن الاتصال؟", language_code="ar")
    await bot.fake.wait_for(
        lambda s: s.chat_id == 35 and "evil" in s.plain and not is_live(s), 20, start=start
    )
    live = [d for d in bot.fake.drafts[drafted:] if is_live(d)]
    assert live, "the checked sentence was not shown while the answer was written"
    assert not any("evil.example" in s.plain or "/forget" in s.plain for s in live)


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_every_server_mode_streams_or_falls_back(
    settings: Settings, fake_llm: FakeLLM, mode: str
) -> None:
    """Streamed structured output on every server the fake plays: reasoning never
    shows, refusals are adapted to, usage is counted (estimated when not sent)."""
    from bot.llm.client import LLMClient
    from bot.llm.stream import partial_object

    fake_llm.quirks = MODES[mode]
    digest = {"headline": "Talks & <b>progress</b>", "bullets": ["one", "two"], "questions": []}
    fake_llm.handler = lambda body: json.dumps(digest)
    model_name = "o4-mini" if mode == "openai-reasoning" else "fake-model"
    client = LLMClient(settings.model_copy(update={"llm_model": model_name}))
    seen: list[dict[str, Any]] = []

    async def on_text(text: str) -> None:
        part = partial_object(text)
        if part:
            seen.append(part)

    try:
        data, usage = await client.complete_json(
            system="s",
            user="u",
            schema_name="digest",
            schema={"required": ["headline"]},
            max_tokens=2000,
            on_text=on_text,
        )
    finally:
        await client.aclose()
    assert data == digest
    assert all(p.get("headline") in (None, digest["headline"]) for p in seen)  # no "draft"
    assert usage.calls == fake_llm.calls and usage.completion_tokens > 0
    streamed = [bool(r.get("stream")) for r in fake_llm.requests]
    if mode in ("no-stream", "no-stream-with-schema"):
        assert streamed == [True, False] and not seen  # refused once, then whole replies
    else:
        assert streamed[-1] and seen and seen[-1]["headline"] == digest["headline"]


async def test_a_streamed_reply_cut_by_length_is_asked_again(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    from bot.llm.client import LLMClient

    digest = {"headline": "A headline long enough to be cut", "bullets": ["x" * 60]}
    fake_llm.handler = lambda body: json.dumps(digest)
    client = LLMClient(settings)
    texts: list[str] = []

    async def on_text(text: str) -> None:
        texts.append(text)

    try:
        data, usage = await client.complete_json(
            system="s",
            user="u",
            schema_name="d",
            schema={"required": ["headline"]},
            max_tokens=25,
            on_text=on_text,
        )
    finally:
        await client.aclose()
    assert data == digest and usage.calls == 2  # the cut reply was never parsed
    assert [r["max_completion_tokens"] for r in fake_llm.requests] == [25, 50]
    assert all(r.get("stream") for r in fake_llm.requests)
