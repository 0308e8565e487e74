"""Per-group pacing and briefing recall (bot/briefings/pacing.py) on a real Redis, with
an injected clock: a group never gets more than its limit in a window, private chats
are not held back, two senders (two processes) share one limit, and the story ids of a
briefing's keyboard are remembered for every part of it."""

from __future__ import annotations

from bot.briefings.pacing import ChatSender, story_ids
from bot.briefings.recall import briefing_stories
from bot.chat.briefing_questions import named_story
from bot.messages import Button
from bot.store.redis import Store


class Recorder:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[tuple[int, float, list[list[Button]]]] = []

    async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
        self.sent.append((chat_id, self.clock[0], buttons))
        return len(self.sent)


def paced(store: Store, inner: Recorder, clock: list[float]) -> ChatSender:
    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    return ChatSender(inner, store, per_minute=3, window=60.0, now=lambda: clock[0], sleep=sleep)


async def test_a_group_waits_for_its_window_and_private_chats_do_not(store: Store) -> None:
    clock = [1000.0]
    inner = Recorder(clock)
    a, b = paced(store, inner, clock), paced(store, inner, clock)  # two processes
    for i in range(4):
        await (a if i % 2 else b).send(-5, f"m{i}", [])
    times = [t for chat, t, _ in inner.sent if chat == -5]
    assert times[:3] == [1000.0] * 3 and times[3] >= 1060.0  # the 4th waited a minute
    before = clock[0]
    for i in range(10):
        await a.send(7, f"p{i}", [])
    assert clock[0] == before  # private chats: no waiting here


async def test_briefing_parts_are_remembered_with_their_stories(store: Store) -> None:
    clock = [0.0]
    inner = Recorder(clock)
    sender = paced(store, inner, clock)
    keyboard = [
        [Button("1", callback="bd:aaa"), Button("2", callback="bd:bbb")],
        [Button("stop", callback="bu")],
    ]
    assert story_ids(keyboard) == ["aaa", "bbb"]
    first = await sender.send(-9, "part 1", [])
    last = await sender.send(-9, "part 2", keyboard)
    for mid in (first, last):
        assert await briefing_stories(store, -9, mid) == ["aaa", "bbb"]
    assert inner.sent[-1][2] == [keyboard[0]]  # no Unsubscribe in a group
    private = await sender.send(9, "brief", keyboard)
    assert inner.sent[-1][2] == keyboard
    assert await briefing_stories(store, 9, private) == ["aaa", "bbb"]
    assert await briefing_stories(store, 9, 12345) == []


def test_a_story_named_by_number_or_ordinal() -> None:
    assert named_story("what are the details of the second story?", 5) == 2
    assert named_story("ما تفاصيل الخبر الثالث؟", 5) == 3
    assert named_story("الخبر ٤ من فضلك", 5) == 4
    assert named_story("tell me more about #1", 5) == 1
    assert named_story("the fifth story", 3) is None  # there are only three
    assert named_story("what happened in Brussels?", 5) is None
