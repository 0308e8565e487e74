"""Edited messages end to end (issue 22, Bot API conventions): the real Application
against the fake Bot API, real Redis, the fake LLM and the local page server.

Before: an edit got "I only read new messages, not edits" in a private chat and
silence in a group, so a user who fixed a typo in a link never got its digest. Now an
edit is read as what the message says now and answered once per content.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.handled import HandledMessages
from bot.store.redis import Store
from tests.fakes.botapi import Sent
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import ANSWER, Bot, is_live

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"
GROUP = -1001000000051


def digests(bot: Bot, chat_id: int) -> set[int]:
    """The ids of the digest messages the chat got (a digest: bullets and buttons)."""
    return {
        s.message_id
        for s in bot.fake.sent_to(chat_id)
        if "•" in s.plain and s.reply_markup is not None and not is_live(s)
    }


def answers(bot: Bot, chat_id: int) -> set[int]:
    return {s.message_id for s in bot.fake.sent_to(chat_id) if ANSWER in s.plain}


async def digest_in(bot: Bot, chat_id: int, start: int = 0) -> Sent:
    return await bot.fake.wait_for(
        lambda s: s.chat_id == chat_id and "•" in s.plain and s.reply_markup is not None,
        15,
        start=start,
    )


async def everything_handled(bot: Bot, chat_id: int, **kw: object) -> None:
    """Send /help after the updates under test and wait for its answer and for the
    Application to go idle: every earlier update was then fetched and handled."""
    bot.fake.command(chat_id, "/help", **kw)  # type: ignore[arg-type]
    await bot.reply(chat_id, contains="/")
    await bot.settled()


async def test_a_link_fixed_by_an_edit_gets_the_fixed_links_digest_once(
    bot: Bot, pages: PageServer, fake_llm: FakeLLM
) -> None:
    good = pages.add("/news/syria", REAL.read_bytes())
    typo = good.replace("syria", "syira")
    mid = bot.fake.message(41, typo, language_code="ar")["message"]["message_id"]
    await bot.reply(41, contains="تعذّر جلب الرابط")  # the typo: a page that is not there
    bot.fake.edited(41, mid, good, language_code="ar")
    digest = await digest_in(bot, 41)
    assert digest.reply_to == mid  # the answer points at the message that was fixed
    calls = fake_llm.calls
    # nothing new to answer: Telegram's edit for a reaction (same content), the comment
    # beside the same link reworded, and the same link again with a tracking parameter
    bot.fake.reaction_edit(41, mid)
    bot.fake.edited(41, mid, f"شوف هذا {good}", language_code="ar")
    bot.fake.edited(41, mid, f"{good}?utm_source=x", language_code="ar")
    await everything_handled(bot, 41)
    assert digests(bot, 41) == {digest.message_id}
    assert fake_llm.calls == calls
    assert not any("edits" in s.plain or "التعديلات" in s.plain for s in bot.fake.sent_to(41))


async def test_an_edited_question_is_answered_once_per_wording(bot: Bot, pages: PageServer) -> None:
    link = pages.add("/news/syria", REAL.read_bytes())
    bot.fake.message(42, link, language_code="ar")
    await digest_in(bot, 42)
    qid = bot.fake.message(42, "من شارك في الاتصال؟", language_code="ar")["message"]["message_id"]
    first = await bot.reply(42, contains=ANSWER, wait=15)
    bot.fake.edited(42, qid, "ما الخطوة التالية بعد الاتصال؟", language_code="ar")
    second = await bot.reply(42, contains=ANSWER, wait=15)
    assert second.message_id != first.message_id and second.reply_to == qid
    # the same wording again (spaces and case aside), and a reaction: no third answer
    bot.fake.edited(42, qid, "  ما الخطوة التالية   بعد الاتصال؟ ", language_code="ar")
    bot.fake.reaction_edit(42, qid)
    await everything_handled(bot, 42, language_code="ar")
    assert answers(bot, 42) == {first.message_id, second.message_id}


async def test_in_a_group_an_edit_is_answered_only_when_addressed(
    bot: Bot, pages: PageServer
) -> None:
    """A message that only mentions the bot after an edit is answered once; edits
    of chatter that does not address the bot stay unanswered, as the chatter did."""
    link = pages.add("/news/syria", REAL.read_bytes())
    kw = {"chat_type": "supergroup", "user_id": 31, "language_code": "en"}
    mid = bot.fake.message(GROUP, "look at this", **kw)["message"]["message_id"]  # type: ignore[arg-type]
    chatter = bot.fake.message(GROUP, "nice weather", **kw)["message"]["message_id"]  # type: ignore[arg-type]
    bot.fake.edited(GROUP, chatter, f"nice weather {link}", **kw)
    bot.fake.edited(GROUP, mid, f"@digest_test_bot look at this {link}", **kw)
    digest = await digest_in(bot, GROUP)
    assert digest.reply_to == mid
    bot.fake.edited(GROUP, mid, f"@digest_test_bot  look at this!  {link}", **kw)
    await everything_handled(bot, GROUP, **kw)
    assert digests(bot, GROUP) == {digest.message_id}


async def test_a_files_caption_edited_to_another_language_gets_that_digest(
    bot: Bot, seed_text: str
) -> None:
    """The caption is a file's instruction: changing "en" to "ar" asks for the Arabic
    digest of the same file, once."""
    sent = bot.fake.document(44, seed_text.encode("utf-8"), "article.txt", caption="en")
    mid = sent["message"]["message_id"]
    english = await digest_in(bot, 44)
    assert "The article reports its point number" in english.plain
    start = len(bot.fake.sent)
    bot.fake.edited_caption(44, mid, "ar")
    arabic = await digest_in(bot, 44, start)
    assert "The article reports" not in arabic.plain and arabic.reply_to == mid
    bot.fake.edited_caption(44, mid, "AR")
    await everything_handled(bot, 44)
    assert digests(bot, 44) == {english.message_id, arabic.message_id}


async def test_a_live_location_moving_is_not_answered_again(bot: Bot) -> None:
    """A live location sends an edit each time it moves: the location got its one
    reply, the moves get none."""
    mid = bot.fake.media(43, "location")["message"]["message_id"]
    await bot.reply(43, contains="location")
    for step in range(3):
        bot.fake.live_location(43, mid, 24.7 + step / 100, 46.7)
    await everything_handled(bot, 43)
    replies = [s.plain for s in bot.fake.sent_to(43)]
    assert len(replies) == 2 and "location" in replies[0]  # and /help's answer


async def test_claims_across_processes_answer_each_content_once(store: Store) -> None:
    """Webhook replicas (or a repeated delivery) racing on the same message: exactly
    one answers; an edit older than one already answered is dropped."""
    a, b = HandledMessages(store, 3600), HandledMessages(store, 3600)
    new = await asyncio.gather(*(h.claim(7, 1, "x", edited_at=None) for h in (a, b) * 3))
    assert sorted(new) == [False] * 5 + [True]
    edit = await asyncio.gather(*(h.claim(7, 1, "y", edited_at=200) for h in (a, b) * 3))
    assert sorted(edit) == [False] * 5 + [True]
    assert not await a.claim(7, 1, "z", edited_at=100)  # older than the answered edit
    assert await a.claim(7, 1, "z", edited_at=300)
    assert not await b.claim(7, 1, "y", edited_at=None)  # the original, late: its edit won
    assert await a.claim(7, 2, "y", edited_at=50)  # an edit of a message never answered
    assert 0 < await store.redis.ttl(store.keys.handled(7, 2)) <= 3600
