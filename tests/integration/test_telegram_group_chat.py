"""Digests and questions in groups, where the chat's own settings and the members'
meet: the group's /language (set by an admin) is the language of what the bot
writes there, whoever asks."""

from __future__ import annotations

from datetime import time as dt_time

from bot.briefings import subscriptions as subs
from bot.store.redis import Store
from tests.integration.telegram_harness import NOW, Bot
from tests.integration.test_telegram_groups import eventually

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
    assert "The article reports its point number 1" in final.plain
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
