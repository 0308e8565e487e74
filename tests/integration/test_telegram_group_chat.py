"""Digests and questions in groups, where the chat's own settings and the members'
meet: the group's /language (set by an admin) is the language of what the bot
writes there, whoever asks."""

from __future__ import annotations

from datetime import time as dt_time
from datetime import timedelta

import pytest

from bot.briefings import sources as srcs
from bot.briefings import subscriptions as subs
from bot.followups.context import Turn
from bot.store.redis import Store
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import NOW, Bot
from tests.integration.test_telegram_groups import _feed, eventually

GROUP = -1001000000011
OWNER, MEMBER = 81, 82


def in_group(bot: Bot, text: str, user: int, lang: str, **kw: object) -> dict[str, object]:
    return bot.fake.message(
        GROUP, text, user_id=user, chat_type="supergroup", language_code=lang, **kw
    )


async def final_digest(bot: Bot, start: int) -> object:
    return await bot.fake.wait_for(
        lambda s: s.chat_id == GROUP and "•" in s.plain and s.reply_markup is not None,
        20,
        start=start,
    )


async def test_a_digest_in_a_group_follows_the_groups_language(bot: Bot, seed_text: str) -> None:
    bot.fake.members[GROUP] = {OWNER: "administrator", MEMBER: "member"}
    in_group(bot, "/language@digest_test_bot en", OWNER, "en")
    await bot.reply(GROUP, contains="English")
    start = len(bot.fake.sent)
    in_group(bot, f"/summarize@digest_test_bot {seed_text}", MEMBER, "ar")
    final = await final_digest(bot, start)
    assert "The article reports its point number" in final.plain
    labels = [b["text"] for b in final.buttons]
    assert "➕ Longer" in labels and "العربية · Arabic" in labels
    # the member's own language is untouched, and the group's is not theirs
    assert await bot.services.users.lang(MEMBER, "ar") == "ar"


async def test_a_group_upgraded_to_a_supergroup_keeps_its_briefing_and_language(
    bot: Bot, store: Store
) -> None:
    """Telegram moves a group to a new id when it becomes a supergroup, and refuses
    messages to the old one: the subscription and /language follow the new id."""
    old, new = -4000000021, -1004000000021
    await subs.subscribe(
        store,
        user_id=old,
        chat_id=old,
        hhmm=dt_time(7),
        tz="Asia/Riyadh",
        lang="en",
        now=NOW,
        kind="group",
    )
    await bot.services.users.set_lang(old, "en")
    for chat, field, value in (
        (old, "migrate_to_chat_id", new),
        (new, "migrate_from_chat_id", old),
    ):
        update = bot.fake.message(chat, None, chat_type="group", queue=False)
        update["message"][field] = value
        bot.fake.push_update(update)

    async def moved() -> object:
        sub = await subs.get(store, new)
        return (sub and (sub.chat_id, sub.kind, sub.hhmm, sub.tz), await subs.get(store, old))

    await eventually(moved, ((new, "group", dt_time(7), "Asia/Riyadh"), None))
    assert (await bot.services.users.prefs(new)).lang == "en"
    assert await store.redis.exists(store.keys.user(old)) == 0


async def test_a_supergroup_upgrade_moves_the_groups_own_sources_and_context_once(
    bot: Bot, store: Store, pages: PageServer
) -> None:
    """Before: the briefing and /language moved, but the group's own /addsource
    sources, its story memory, topics, today's send mark and follow-up context stayed
    under the dead id: the supergroup's /sources no longer listed its feed and its next
    briefing could repeat what the group was already told. Both service messages
    arrive, twice (replicas): everything moves once, and the feed stays polled."""
    old, new = -4000000022, -1004000000022
    k = store.keys
    await _feed(store, pages, old)  # the group's own source "ألفا", polled
    (feed,) = await srcs.user_sources(store, old)
    sent_at = NOW - timedelta(hours=5)
    await subs.subscribe(
        store, user_id=old, chat_id=old, hhmm=dt_time(7), tz="UTC", lang="ar", now=NOW, kind="group"
    )
    await store.redis.hset(k.subscription(old), "last_sent", str(int(sent_at.timestamp())))
    await store.redis.set(k.sent(old, NOW.date().isoformat()), "1", ex=3600)
    await bot.services.briefings.follow(old, "الناتو")
    await store.redis.hset(k.briefing_memory(old), "lead-1", '{"day": "2026-11-29"}')
    await store.redis.expire(k.briefing_memory(old), 86400)
    context = bot.services.followups.context
    await context.set_active(old, "article-1")
    await context.add_turn(old, "article-1", Turn("من شارك؟", "الوزيران."))
    await context.bind_message(old, 5, "article-1")
    for _ in range(2):
        for chat, field, value in (
            (old, "migrate_to_chat_id", new),
            (new, "migrate_from_chat_id", old),
        ):
            update = bot.fake.message(chat, None, chat_type="group", queue=False)
            update["message"][field] = value
            bot.fake.push_update(update)

    async def sources_of(chat: int) -> list[str]:
        return [s.name for s in await srcs.user_sources(store, chat)]

    await eventually(lambda: sources_of(new), ["ألفا"])
    bot.fake.command(new, "/sources@digest_test_bot", chat_type="supergroup", user_id=OWNER)
    assert "ألفا" in (await bot.reply(new, contains="ألفا")).plain  # what the members see
    await bot.settled()
    assert await sources_of(old) == []
    assert await store.redis.smembers(k.feed_refs(feed.id)) == {str(new)}  # still polled
    assert feed.id in await store.redis.hgetall(k.feed_registry())
    sub = await subs.get(store, new)
    assert sub is not None and (sub.chat_id, sub.kind, sub.last_sent) == (new, "group", sent_at)
    assert await subs.get(store, old) is None
    assert await store.redis.exists(k.sent(new, NOW.date().isoformat())) == 1  # no 2nd today
    assert "الناتو" in str(await bot.services.briefings.topics(new))
    assert await store.redis.hkeys(k.briefing_memory(new)) == ["lead-1"]
    assert 0 < await store.redis.ttl(k.briefing_memory(new)) <= 86400
    assert await context.active_article(new) == "article-1"
    assert [t.answer for t in await context.history(new, "article-1")] == ["الوزيران."]
    assert await context.article_for_reply(new, 5) is None  # new ids: the map stays behind
    assert [key async for key in store.redis.scan_iter(match=f"*{old}*")] == []


async def test_a_briefing_that_finds_the_group_upgraded_goes_to_the_supergroup(
    bot: Bot, store: Store, pages: PageServer
) -> None:
    """The bot missed the upgrade's service messages (or has not handled them yet):
    Telegram refuses the briefing to the old id, naming the new one. Before: the send
    failed every day. Now the group's data moves and the briefing goes to the new id."""
    old, new = -4000000023, -1004000000023
    await _feed(store, pages, old)
    await subs.subscribe(
        store,
        user_id=old,
        chat_id=old,
        hhmm=dt_time(12),
        tz="UTC",
        lang="ar",
        now=NOW - timedelta(minutes=5),
        kind="group",
    )
    bot.fake.upgraded[old] = new
    delivery = bot.services.briefings.delivery
    counts = await delivery.tick(NOW + timedelta(minutes=1))
    assert (counts["moved"], counts["sent"]) == (1, 1)  # moved, then sent in the same tick
    assert bot.fake.sent_to(old) == []
    (brief,) = bot.fake.sent_to(new)
    assert "ألفا" in brief.plain  # a story from the group's own source, moved with it
    assert [s.name for s in await srcs.user_sources(store, new)] == ["ألفا"]
    assert await subs.get(store, old) is None
    assert (await delivery.tick(NOW + timedelta(minutes=2)))["sent"] == 0  # once


CHANNEL, DISCUSSION = -1002000000031, -1002000000032


def auto_forward(bot: Bot, post_id: int) -> int:
    """Telegram copies channel post `post_id` into the channel's discussion group (its
    comments); return the copy's id there."""
    update = bot.fake.message(DISCUSSION, "…", chat_type="supergroup", queue=False)
    msg = update["message"]
    msg["from"] = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    msg["sender_chat"] = {"id": CHANNEL, "type": "channel", "title": "News"}
    msg["is_automatic_forward"] = True
    msg["forward_origin"] = {
        "type": "channel",
        "chat": {"id": CHANNEL, "type": "channel", "title": "News"},
        "message_id": post_id,
        "date": 0,
    }
    return int(msg["message_id"])


async def test_a_comment_on_the_channels_briefing_is_answered_in_the_discussion(
    bot: Bot, store: Store, pages: PageServer
) -> None:
    """A channel's briefing, commented on in its discussion group: the comment is a
    reply to Telegram's copy of the post there, and asks about the briefing's stories.
    Comments on the channel's other posts are not for the bot."""
    await _feed(store, pages, CHANNEL)
    await subs.subscribe(
        store,
        user_id=CHANNEL,
        chat_id=CHANNEL,
        hhmm=dt_time(12),
        tz="UTC",
        lang="ar",
        now=NOW - timedelta(minutes=5),
        kind="channel",
    )
    assert (await bot.services.briefings.delivery.tick(NOW + timedelta(minutes=1)))["sent"] == 1
    (brief,) = bot.fake.sent_to(CHANNEL)
    copy = auto_forward(bot, brief.message_id)
    other = auto_forward(bot, brief.message_id + 1000)  # an admin's own post
    start = len(bot.fake.sent)
    in_chat = {"user_id": 91, "chat_type": "supergroup", "language_code": "ar"}
    bot.fake.message(DISCUSSION, "ما رأيكم في الخبر الثاني؟", reply_to=other, **in_chat)
    bot.fake.message(DISCUSSION, "ماذا قال الخبر الثاني عن الناتو؟", reply_to=copy, **in_chat)
    answer = await bot.reply(DISCUSSION, contains="من الخبر 2: الناتو", wait=15)
    assert answer.reply_to is not None
    assert [s.message_id for s in bot.fake.sent[start:] if s.method == "sendMessage"] == [
        answer.message_id
    ]


@pytest.mark.parametrize(("lang", "word"), [("en", "private chat"), ("ar", "المحادثة الخاصة")])
async def test_a_file_sent_to_the_bot_in_a_group_points_to_the_private_chat(
    bot: Bot, lang: str, word: str
) -> None:
    """Files are read in private chats only: one sent in a group with /summarize@bot
    (or a mention) gets that said, not "send a link"; other files are left alone."""
    start = len(bot.fake.sent)
    kw = {"chat_type": "supergroup", "user_id": MEMBER, "language_code": lang}
    bot.fake.document(GROUP, b"some text", "notes.txt", caption="holiday photos", **kw)
    bot.fake.document(GROUP, b"an article", "a.txt", caption="/summarize@digest_test_bot", **kw)
    reply = await bot.reply(GROUP, contains=word)
    assert [s.message_id for s in bot.fake.sent[start:]] == [reply.message_id]
    assert bot.fake.downloads == []
