"""Groups and channels end to end (issue 12): the real Application against the fake
Bot API. Group settings are their admins' (getChatMember, cached), an anonymous admin
writing as the group counts as an admin, a channel post subscribes the channel, the
group's briefing goes to the group, and a removed bot unsubscribes the chat."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import time, timedelta

import pytest

from bot.briefings import sources as srcs
from bot.briefings import subscriptions as subs
from bot.briefings.delivery import format_counts
from bot.briefings.feeds import FeedPoller
from bot.briefings.sources import Source
from bot.clock import FrozenClock
from bot.ingest.fetch import Fetcher
from bot.store.redis import Store
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import ADMIN, NOW, Bot
from tests.integration.test_feeds import page, rss
from tests.unit.test_stories import DIFFERENT, SYNDICATED

GROUP = -1001000000001
CHANNEL = -1002000000002
MEMBER, OWNER = 71, 72
REFUSAL = {"en": "only the group's admins", "ar": "مشرفو المجموعة وحدهم"}


async def eventually(
    read: Callable[[], Awaitable[object]],
    expected: object,
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for a poll, not a call
) -> None:
    """Wait until `read()` gives `expected` (work the bot does after its last Bot API
    call, such as an error handler, has no message to wait for)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await read()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.02)


def group_command(bot: Bot, text: str, user: int, lang: str = "en", **kw: object) -> None:
    bot.fake.message(GROUP, text, user_id=user, chat_type="supergroup", language_code=lang, **kw)


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_member_is_refused_politely_and_nothing_changes(
    bot: Bot, store: Store, lang: str
) -> None:
    bot.fake.members[GROUP] = {OWNER: "creator", MEMBER: "member"}
    for command in ("/subscribe@digest_test_bot 07:30", "/unsubscribe", "/timezone Asia/Dubai"):
        group_command(bot, command, MEMBER, lang)
        reply = await bot.reply(GROUP, contains=REFUSAL[lang])
        assert reply.reply_to is not None  # answers the member's own message
    assert await subs.get(store, GROUP) is None and await subs.get(store, MEMBER) is None
    assert await store.redis.hget(store.keys.user(GROUP), "tz") is None
    # one getChatMember for the three commands: the answer is cached briefly
    asked = [p for m, p in bot.fake.calls if m == "getChatMember"]
    assert len(asked) == 1 and int(asked[0]["user_id"]) == MEMBER


@pytest.mark.parametrize(("lang", "word"), [("en", "This chat will get"), ("ar", "ستصل هذه")])
async def test_the_group_admin_subscribes_the_group_itself(
    bot: Bot, store: Store, lang: str, word: str
) -> None:
    bot.fake.members[GROUP] = {OWNER: "creator"}
    group_command(bot, "/timezone@digest_test_bot Asia/Riyadh", OWNER, lang)
    await bot.reply(GROUP, contains="Asia/Riyadh")
    group_command(bot, "/subscribe@digest_test_bot 07:30", OWNER, lang)
    reply = await bot.reply(GROUP, contains="07:30")
    assert word in reply.plain
    sub = await subs.get(store, GROUP)
    assert sub is not None and sub.chat_id == GROUP and sub.kind == "group"
    assert sub.hhmm == time(7, 30) and sub.tz == "Asia/Riyadh"
    assert await subs.get(store, OWNER) is None  # the admin's own subscription: none
    # a command for another bot is not ours
    start = len(bot.fake.sent)
    group_command(bot, "/unsubscribe@some_other_bot", OWNER, lang)
    group_command(bot, "/help@digest_test_bot", OWNER, lang)
    await bot.reply(GROUP, contains="/subscribe")
    assert not [s for s in bot.fake.sent[start:] if "unsubscribed" in s.plain]
    assert await subs.get(store, GROUP) is not None


async def test_an_anonymous_admin_writes_as_the_group_and_counts_as_admin(
    bot: Bot, store: Store
) -> None:
    group_command(bot, "/subscribe@digest_test_bot 06:00", 1087968824, "ar", sender_chat=GROUP)
    await bot.reply(GROUP, contains="06:00")
    assert (sub := await subs.get(store, GROUP)) is not None and sub.hhmm == time(6)
    assert not [m for m, _ in bot.fake.calls if m == "getChatMember"]


async def test_the_group_language_is_the_admins_choice(bot: Bot, store: Store) -> None:
    bot.fake.members[GROUP] = {OWNER: "administrator", MEMBER: "member"}
    group_command(bot, "/language@digest_test_bot ar", MEMBER, "en")
    await bot.reply(GROUP, contains=REFUSAL["en"])
    group_command(bot, "/language@digest_test_bot ar", OWNER, "en")
    await bot.reply(GROUP, contains="بالعربية")
    # the group now answers in Arabic, even to an English-speaking member
    group_command(bot, "/subscribe@digest_test_bot", MEMBER, "en")
    await bot.reply(GROUP, contains=REFUSAL["ar"])
    assert await store.redis.hget(store.keys.user(MEMBER), "lang") is None


async def test_group_stays_quiet_on_plain_messages(bot: Bot) -> None:
    start = len(bot.fake.sent)
    group_command(bot, "Good morning everyone, any news today?", MEMBER)
    group_command(bot, "/help@digest_test_bot", MEMBER)
    help_ = await bot.reply(GROUP, contains="/subscribe")
    assert [s.message_id for s in bot.fake.sent[start:]] == [help_.message_id]


@pytest.mark.parametrize(("lang", "word"), [("en", "This chat will get"), ("ar", "ستصل هذه")])
async def test_a_channel_post_subscribes_the_channel(
    bot: Bot, store: Store, lang: str, word: str
) -> None:
    fake = bot.fake
    fake.channel_post(CHANNEL, f"/language {lang}")
    await bot.reply(CHANNEL, contains="English" if lang == "en" else "بالعربية")
    fake.channel_post(CHANNEL, "/subscribe 08:15")
    reply = await bot.reply(CHANNEL, contains="08:15")
    assert word in reply.plain
    sub = await subs.get(store, CHANNEL)
    assert sub is not None and sub.kind == "channel" and sub.lang == lang
    fake.channel_post(CHANNEL, "An ordinary post of the channel, not for the bot.")
    fake.channel_post(CHANNEL, "/unsubscribe")
    done = await bot.reply(CHANNEL, contains="unsubscribed" if lang == "en" else "أُلغي")
    posts = [s for s in fake.sent_to(CHANNEL) if s.at <= done.at]
    assert len(posts) == 3  # language, subscribed, unsubscribed: nothing for the post
    assert await subs.get(store, CHANNEL) is None


async def test_an_arabic_channel_speaks_arabic_before_any_language_is_set(
    bot: Bot, store: Store
) -> None:
    """A channel post has no user language: an Arabic channel's title makes its replies
    and its briefing Arabic until its admins post /language (they came out English)."""
    bot.fake.titles[CHANNEL] = "أخبار الصباح"
    bot.fake.channel_post(CHANNEL, "/subscribe 08:15")
    reply = await bot.reply(CHANNEL, contains="08:15")
    assert "ستصل هذه" in reply.plain
    sub = await subs.get(store, CHANNEL)
    assert sub is not None and sub.lang == "ar"


async def _feed(store: Store, pages: PageServer, *chats: int) -> None:
    a = pages.add("/a", page("بايدن وبوتين", SYNDICATED["copy-agency"].split("\n\n")))
    b = pages.add("/b", page("الناتو", (DIFFERENT["nato-meeting"] + "\n\n").split("\n\n") * 3))
    feed = pages.add(
        "/f.xml", rss("ألفا", [("بايدن وبوتين", a, ""), ("الناتو", b, "")], NOW), "text/xml"
    )
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        report = await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all([Source("ألفا", feed)])
        for chat in chats:  # the chats' own source
            await srcs.add_source(store, fetcher, chat, feed)
    assert report.new == 2


async def test_group_and_channel_briefings_are_delivered_and_403_unsubscribes(
    bot: Bot, store: Store, pages: PageServer
) -> None:
    await _feed(store, pages, GROUP, CHANNEL)
    before = NOW - timedelta(minutes=5)
    for chat, kind in ((GROUP, "group"), (CHANNEL, "channel")):
        await subs.subscribe(
            store,
            user_id=chat,
            chat_id=chat,
            hhmm=time(12),
            tz="UTC",
            lang="ar",
            now=before,
            kind=kind,
        )
    delivery = bot.services.briefings.delivery
    counts = await delivery.tick(NOW + timedelta(minutes=1))
    assert counts["sent"] == 2 and counts["sent_to_groups"] == 2
    assert "sent=2 " in format_counts(counts) and "sent_to_groups=2" in format_counts(counts)
    for chat in (GROUP, CHANNEL):
        (brief,) = bot.fake.sent_to(chat)
        assert "1. " in brief.plain and "2. " in brief.plain
        datas = [b["callback_data"] for b in brief.buttons]
        assert datas and "bu" not in datas  # no Unsubscribe any member could tap
    assert bot.fake.max_per_minute(GROUP) == 1
    # the next day the group has removed the bot: 403 unsubscribes it
    bot.fake.fail(GROUP, 403, description="Forbidden: bot was kicked from the supergroup chat")
    counts = await delivery.tick(NOW + timedelta(days=1, minutes=1))
    assert counts["blocked"] == 1 and counts["sent"] == 1
    assert await subs.get(store, GROUP) is None and await subs.get(store, CHANNEL) is not None


async def test_bot_removed_from_a_channel_unsubscribes_it(bot: Bot, store: Store) -> None:
    await subs.subscribe(
        store,
        user_id=CHANNEL,
        chat_id=CHANNEL,
        hhmm=time(9),
        tz="UTC",
        lang="en",
        now=NOW,
        kind="channel",
    )
    await subs.subscribe(store, user_id=5, chat_id=5, hhmm=time(9), tz="UTC", lang="en", now=NOW)
    bot.fake.bot_removed(CHANNEL, "channel")
    await eventually(lambda: subs.get(store, CHANNEL), None)
    bot.fake.command(ADMIN, "/stats")
    report = await bot.reply(ADMIN, contains="Briefing subscribers")
    assert "Briefing subscribers: 1 (private 1, groups 0, channels 0)" in report.plain


async def test_stats_count_groups_and_channels(bot: Bot, store: Store) -> None:
    for uid, kind in ((5, "private"), (GROUP, "group"), (CHANNEL, "channel"), (-9, "group")):
        await subs.subscribe(
            store, user_id=uid, chat_id=uid, hhmm=time(9), tz="UTC", lang="en", now=NOW, kind=kind
        )
    bot.fake.command(ADMIN, "/stats", language_code="ar")
    report = await bot.reply(ADMIN, contains="المشتركون في الموجز")
    assert "المشتركون في الموجز: 4 (محادثات خاصة 1، مجموعات 2، قنوات 1)" in report.plain


@pytest.mark.parametrize(("lang", "done"), [("en", "will be posted in @news_ar"), ("ar", "ستُنشر")])
async def test_a_channel_admin_manages_it_from_a_private_chat(
    bot: Bot, store: Store, lang: str, done: str
) -> None:
    fake = bot.fake
    fake.chats["@news_ar"] = {"id": CHANNEL, "type": "channel", "title": "News"}
    fake.members[CHANNEL] = {OWNER: "creator", fake.bot_id: "administrator"}
    fake.command(MEMBER, "/channel @news_ar 09:00", language_code=lang)
    await bot.reply(MEMBER, contains="admins" if lang == "en" else "مشرفو القناة")
    fake.command(MEMBER, "/channel @nowhere 09:00", language_code=lang)
    await bot.reply(MEMBER, contains="can't find" if lang == "en" else "لم أجد")
    assert await subs.get(store, CHANNEL) is None
    fake.command(OWNER, "/channel @news_ar 09:00", language_code=lang)
    await bot.reply(OWNER, contains=done)
    sub = await subs.get(store, CHANNEL)
    assert sub is not None and sub.kind == "channel" and sub.chat_id == CHANNEL
    assert sub.hhmm == time(9) and sub.lang == lang
    fake.command(OWNER, "/channel @news_ar off", language_code=lang)
    await bot.reply(OWNER, contains="unsubscribed" if lang == "en" else "أُلغي")
    assert await subs.get(store, CHANNEL) is None
    # the bot is no admin of a channel: it cannot post there
    fake.members[CHANNEL] = {OWNER: "creator"}
    fake.command(OWNER, "/channel @news_ar 09:00", language_code=lang)
    await bot.reply(OWNER, contains="can't find" if lang == "en" else "لم أجد")


async def test_a_channel_reader_tapping_buttons_changes_nothing_and_posts_nothing(
    bot: Bot, store: Store
) -> None:
    fake = bot.fake
    fake.members[CHANNEL] = {OWNER: "creator"}
    fake.channel_post(CHANNEL, "/subscribe 07:00")
    sub_msg = await bot.reply(CHANNEL, contains="07:00")
    fake.channel_post(CHANNEL, "/briefing")
    brief = await bot.reply(CHANNEL, contains="📰")
    assert "bu" not in [b["callback_data"] for b in brief.buttons]
    # a reader taps an Unsubscribe button anyway (an older briefing), and a setting
    start = len(fake.sent)
    fake.callback(CHANNEL, brief.message_id, "bu", user_id=MEMBER, chat_type="channel")
    fake.callback(CHANNEL, brief.message_id, "s:lang:ar", user_id=MEMBER, chat_type="channel")
    await fake.wait_until(lambda: len(fake.answered_callbacks) >= 2, 10)
    fake.channel_post(CHANNEL, "/help")
    help_ = await bot.reply(CHANNEL, contains="/subscribe")
    assert [s.message_id for s in fake.sent[start:]] == [help_.message_id]
    assert await subs.get(store, CHANNEL) is not None and sub_msg
    # the channel's owner may
    fake.callback(CHANNEL, brief.message_id, "bu", user_id=OWNER, chat_type="channel")
    await bot.reply(CHANNEL, contains="unsubscribed")
    assert await subs.get(store, CHANNEL) is None


async def test_a_403_when_answering_in_a_group_unsubscribes_the_group_not_the_member(
    bot: Bot, store: Store
) -> None:
    for uid in (GROUP, MEMBER):
        await subs.subscribe(
            store, user_id=uid, chat_id=uid, hhmm=time(9), tz="UTC", lang="en", now=NOW
        )
    bot.fake.fail(GROUP, 403, description="Forbidden: bot was kicked from the supergroup chat")
    group_command(bot, "/help@digest_test_bot", MEMBER)
    await bot.fake.wait_until(lambda: any(code == 403 for _, code, _ in bot.fake.errors), 10)
    await eventually(lambda: subs.get(store, GROUP), None)  # the error handler ran
    assert await subs.get(store, MEMBER) is not None
