"""Issue 18 point 6: one member of one group must not stall every chat.

Telegram lets the bot post about 20 messages a minute in a group. Before, each handler
waited for the group's pace while holding one of the 32 update slots, and /help,
/start, /briefing, /sources had no per-user limit: after 60 /help in one group a
private /start took 26 s. Now commands are limited per user (one notice, then
silence), and a handler waiting for a chat's pace gives its slot back. The real
Application against the fake Bot API; promptness is judged against the group's queue
(the private reply comes while the group is still being paced), not a wall-clock bound.
"""

from __future__ import annotations

from bot.config import Settings
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.integration.telegram_harness import running_bot

GROUP = -1001000000041
SPAMMER, STRANGER = 101, 102
LIMIT = 10  # COMMANDS_PER_MINUTE's default
PROMPT = 10.0  # seconds a private /start may take on a loaded test machine; before: 26 s


def group_help(fake: BotAPI, user: int) -> None:
    fake.message(GROUP, "/help", user_id=user, chat_type="supergroup")


async def test_sixty_help_from_one_member_get_a_few_replies_and_stall_no_one(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    async with running_bot(settings, store, botapi, fake_llm, drain_seconds=1) as bot:
        for _ in range(60):
            group_help(botapi, SPAMMER)
        botapi.command(STRANGER, "/start", user_id=STRANGER)
        start = await bot.reply(STRANGER, contains="Hello", wait=PROMPT)
        await bot.settled()
        replies = botapi.sent_to(GROUP)
    helps = [s for s in replies if "/start" in s.plain]
    notices = [s for s in replies if "Too many commands" in s.plain]
    assert len(helps) == LIMIT and len(notices) == 1, [s.plain[:40] for s in replies]
    assert "seconds" in notices[0].plain
    assert start.chat_id == STRANGER


async def test_a_group_waiting_for_its_pace_holds_no_slot_another_chat_needs(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> None:
    """60 members each send /help once (no per-user limit is hit): the group gets 20
    replies at once and the rest at its pace, 3 s apart; a private /start meanwhile is
    answered before the group's queue has moved much."""
    async with running_bot(settings, store, botapi, fake_llm, drain_seconds=1) as bot:
        for member in range(1000, 1060):
            group_help(botapi, member)
        await botapi.wait_until(lambda: len(botapi.sent_to(GROUP)) >= 20, PROMPT)
        botapi.command(STRANGER, "/start", user_id=STRANGER)
        await bot.reply(STRANGER, contains="Hello", wait=PROMPT)
        answered_in_group = len(botapi.sent_to(GROUP))
    # the private reply did not wait behind the group's 40 paced replies (2 minutes)
    assert 20 <= answered_in_group < 25, answered_in_group
    assert botapi.max_per_minute(GROUP) <= 20
