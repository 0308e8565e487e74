"""Issue 18 point 5: forged button presses in channels and groups.

Anyone who can see a bot's message can send a button press with any callback data on
it. In a channel or a group a press that changes settings needs an admin, and a press
that does nothing (unknown, malformed or stale data, or a refusal) is answered only
with answerCallbackQuery (a toast the presser alone sees, in their language): never a
message posted to the chat, never an edit of the bot's post. The real Application
against the fake Bot API.
"""

from __future__ import annotations

from typing import Any

from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot, article_page

GROUP = -1001000000031
CHANNEL = -1002000000032
OWNER, READER = 91, 92
FORGED = ["s:len:short", "s:lang:en", "zz:1", "s:x", "d:nope:ar", "d:x", "rs:abc", "bd:gone"]
TOAST = {
    "en": ("expired", "no longer available", "Only this chat's admins"),
    "ar": ("انتهت صلاحية", "لم يعد هذا الخبر متاحًا", "مشرفو هذه المحادثة وحدهم"),
}


def snapshot(fake: BotAPI, chat_id: int, message_id: int) -> dict[str, Any]:
    msg = fake.current(chat_id, message_id)
    return {"text": msg.get("text"), "markup": msg.get("reply_markup")}


async def press_all(
    bot: Bot, chat_id: int, message_id: int, chat_type: str, lang: str
) -> list[dict[str, Any]]:
    """A reader sends every forged press on the bot's message; return the answers."""
    fake = bot.fake
    answered = len(fake.answered_callbacks)
    for data in FORGED:
        fake.callback(
            chat_id, message_id, data, user_id=READER, chat_type=chat_type, language_code=lang
        )
    await fake.wait_until(lambda: len(fake.answered_callbacks) >= answered + len(FORGED), 15)
    await bot.settled()  # and whatever the presses made the bot do after answering
    return fake.answered_callbacks[answered:]


def assert_toasts(answers: list[dict[str, Any]], lang: str) -> None:
    assert len(answers) == len(FORGED)
    for answer in answers:
        text = str(answer.get("text") or "")
        assert any(word in text for word in TOAST[lang]), answers
        assert len(text) <= 200


async def test_forged_presses_on_a_channel_digest_change_and_post_nothing(
    bot: Bot, store: Store, pages: PageServer, seed_text: str
) -> None:
    fake = bot.fake
    fake.members[CHANNEL] = {OWNER: "creator"}
    link = pages.add("/channel-news", article_page(seed_text))
    start = len(fake.sent)
    fake.channel_post(CHANNEL, f"/summarize {link}")
    post = await fake.wait_for(
        lambda s: s.chat_id == CHANNEL and "•" in s.plain and s.reply_markup is not None,
        20,
        start=start,
    )
    before = snapshot(fake, CHANNEL, post.message_id)
    start = len(fake.sent)

    answers = await press_all(bot, CHANNEL, post.message_id, "channel", "ar")

    # before: the post was edited into "Done: digests will be short" without its
    # keyboard, and "these buttons have expired" was posted into the channel
    assert [s for s in fake.sent[start:] if s.chat_id == CHANNEL] == []
    assert snapshot(fake, CHANNEL, post.message_id) == before
    assert_toasts(answers, "ar")
    assert await store.redis.hget(store.keys.user(READER), "length") is None


async def test_forged_presses_on_a_group_briefing_change_and_post_nothing(
    bot: Bot, store: Store
) -> None:
    fake = bot.fake
    fake.members[GROUP] = {OWNER: "creator", READER: "member"}
    fake.message(GROUP, "/briefing", user_id=OWNER, chat_type="supergroup")
    brief = await bot.reply(GROUP, contains="📰")
    before = snapshot(fake, GROUP, brief.message_id)
    start = len(fake.sent)

    answers = await press_all(bot, GROUP, brief.message_id, "supergroup", "en")

    assert [s for s in fake.sent[start:] if s.chat_id == GROUP] == []
    assert snapshot(fake, GROUP, brief.message_id) == before
    assert_toasts(answers, "en")
    # the group's own settings are its admins' to change, by button as by command
    fake.callback(GROUP, brief.message_id, "s:lang:ar", user_id=OWNER, chat_type="supergroup")
    await bot.reply(GROUP, contains="بالعربية")
    assert await store.redis.hget(store.keys.user(GROUP), "lang") == "ar"


async def test_a_stale_button_in_a_private_chat_still_says_so_in_the_chat(bot: Bot) -> None:
    user = 93
    bot.fake.command(user, "/help", user_id=user)
    help_ = await bot.reply(user, contains="/start")
    bot.fake.callback(user, help_.message_id, "zz:1", user_id=user)
    expired = await bot.reply(user, contains="These buttons have expired")
    assert expired.chat_id == user
