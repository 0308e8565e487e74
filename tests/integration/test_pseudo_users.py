"""Issue 18 point 9: Telegram's shared sender accounts are a pseudo-user per chat.

Every anonymous group admin writes as GroupAnonymousBot (1087968824) and everyone
posting as a channel in a group as Channel_Bot (136817688). Keyed by that account,
all of them, in every group, shared one rate limit, token budget and preference set:
one group's anonymous admin used up another's budget. The chat they speak for
(`sender_chat`) is the sender now. The real Application against the fake Bot API.
"""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot, article_page, running_bot

GROUP_A, GROUP_B = -1001000000051, -1001000000052
CHANNEL_1, CHANNEL_2 = -1002000000053, -1002000000054
BUDGET = 14_000  # an English digest of the seed costs about 4,300 tokens; its hold about 12,000
REFUSED = "You've used today's summary allowance"


def as_anonymous_admin(fake: BotAPI, group: int, text: str) -> None:
    fake.message(group, text, chat_type="supergroup", sender_chat=group)


def as_channel(fake: BotAPI, group: int, channel: int, text: str) -> None:
    update: dict[str, Any] = fake.message(group, text, chat_type="supergroup", queue=False)
    msg = update["message"]
    msg["from"] = {"id": 136817688, "is_bot": True, "first_name": "Channel"}
    msg["sender_chat"] = {"id": channel, "type": "channel", "title": f"Channel {channel}"}
    fake.push_update(update)


async def digest_or_refusal(bot: Bot, chat_id: int, start: int) -> str:
    sent = await bot.fake.wait_for(
        lambda s: s.chat_id == chat_id and ("•" in s.plain or REFUSED in s.plain),
        30,
        start=start,
    )
    return sent.plain


async def test_anonymous_admins_of_two_groups_have_their_own_budgets(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    pages: PageServer,
    seed_text: str,
) -> None:
    def copy(n: int) -> str:  # another text each time: no digest cache hit
        return "\n\n".join(f"{p} ({n})" for p in seed_text.split("\n\n") if p.strip())

    links = [pages.add(f"/anon/{n}", article_page(copy(n))) for n in range(4)]
    async with running_bot(settings, store, botapi, fake_llm, daily_token_budget=BUDGET) as bot:
        replies = []
        for link in links[:3]:  # group A's anonymous admins spend their whole budget
            start = len(botapi.sent)
            as_anonymous_admin(botapi, GROUP_A, f"/summarize@digest_test_bot {link}")
            replies.append(await digest_or_refusal(bot, GROUP_A, start))
        assert REFUSED in replies[-1]
        start = len(botapi.sent)
        as_anonymous_admin(botapi, GROUP_B, f"/summarize@digest_test_bot {links[3]}")
        other = await digest_or_refusal(bot, GROUP_B, start)
    assert "•" in other and REFUSED not in other  # before: refused, A's spending was B's


async def test_people_posting_as_channels_have_their_own_command_limits(
    bot: Bot, store: Store
) -> None:
    fake = bot.fake
    for _ in range(bot.settings.commands_per_minute + 3):
        as_channel(fake, GROUP_A, CHANNEL_1, "/help")
    notice = await bot.reply(GROUP_A, contains="Too many commands")
    assert notice
    start = len(fake.sent)
    as_channel(fake, GROUP_B, CHANNEL_2, "/help")
    helped = await bot.fake.wait_for(
        lambda s: s.chat_id == GROUP_B and "/start" in s.plain, 10, start=start
    )
    assert helped.chat_id == GROUP_B  # before: silence, channel 1 had used the limit up
    # and a channel posting in a group is not taken for one of the group's admins
    as_channel(fake, GROUP_B, CHANNEL_2, "/subscribe@digest_test_bot 07:00")
    await bot.reply(GROUP_B, contains="only the group's admins")
    assert not [p for m, p in fake.calls if m == "getChatMember"]
