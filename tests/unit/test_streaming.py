"""Streaming pieces: the partial JSON shows complete strings only, partial digests render
as valid Telegram HTML, and the live message edits at most once per interval."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clock import FrozenClock
from bot.domain import Partial
from bot.llm.stream import partial_object, visible
from bot.render import render_partial_html
from bot.summarize.live import finished_bullets, growing_headline
from bot.telegram.live import LiveMessage
from tests.fakes.botapi import parse_html

TRICKY = st.text(
    alphabet=st.sampled_from([*'ab <>&;"\\/é', "\u0627", "\u0644", "\n", "😀"]),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(headline=TRICKY, bullets=st.lists(TRICKY, min_size=1, max_size=4))
def test_every_prefix_shows_only_whole_strings(headline: str, bullets: list[str]) -> None:
    doc = {"headline": headline, "bullets": [{"text": b, "sources": [1]} for b in bullets]}
    doc["questions"] = ["q?"]
    raw = json.dumps(doc, ensure_ascii=bool(len(headline) % 2))
    for end in range(len(raw) + 1):
        obj = partial_object(raw[:end])
        if obj is None:
            continue
        if "headline" in obj:
            assert obj["headline"] == headline
        words = growing_headline(raw[:end]).split()
        assert words == headline.split()[: len(words)]  # whole words only, in order
        done = finished_bullets(obj)
        assert [b["text"] for b in done] == bullets[: len(done)]


@settings(max_examples=60, deadline=None)
@given(headline=TRICKY, bullets=st.lists(TRICKY, max_size=4), text=TRICKY)
def test_a_partial_digest_is_always_valid_telegram_html(
    headline: str, bullets: list[str], text: str
) -> None:
    for part in (
        Partial(lang="ar", headline=headline, bullets=tuple(bullets)),
        Partial(lang="en", text=text),
    ):
        plain = parse_html(render_partial_html(part, "ar"))  # raises like Telegram would
        assert "✍️" in plain


def test_reasoning_is_never_visible() -> None:
    assert visible('<think>{"headline": "draft"') == ""
    assert partial_object('<think>{"headline": "draft"') is None
    assert partial_object('I think {"headline": "draft"}') is None  # before a bare </think>
    assert partial_object('<think>x</think>\n```json\n{"headline": "real"') == {"headline": "real"}


async def test_live_message_edits_at_most_once_per_interval() -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    edits: list[str] = []

    async def edit(html: str) -> None:
        edits.append(html)

    live = LiveMessage(edit, clock, interval=1.5)
    live.show("one")
    await asyncio.sleep(0)  # let the first edit go out: the first text shows at once
    await asyncio.sleep(0)
    live.show("two")  # too soon: waits for its turn
    live.show("three")  # replaces "two" while waiting
    await asyncio.sleep(0)
    assert edits == ["one"]
    clock.advance(seconds=1.6)
    await live.close()  # closing drops what was waiting (the final reply follows)
    assert edits == ["one"]
    live2 = LiveMessage(edit, clock, interval=1.5)
    live2.show("a")
    await asyncio.sleep(0)
    clock.advance(seconds=1.5)
    live2.show("b")
    for _ in range(3):
        await asyncio.sleep(0)
    await live2.close()
    assert edits == ["one", "a", "b"] and live2.edits == 2


def test_the_terminal_block_is_redrawn_and_cleared() -> None:
    import io

    from bot.chat.terminal import LiveTerminal

    screen = io.StringIO()
    live = LiveTerminal(screen, enabled=True)
    live.show("headline")
    live.show("headline\n\n• one")
    live.clear()
    assert screen.getvalue() == "headline\n\x1b[1F\x1b[Jheadline\n\n• one\n\x1b[3F\x1b[J"
    quiet = io.StringIO()
    LiveTerminal(quiet).show("x")  # not a terminal: nothing is drawn
    assert quiet.getvalue() == ""
