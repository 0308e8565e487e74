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


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_draft_shows_the_newest_text_paced_and_is_sent_again_while_unchanged() -> None:
    from bot.telegram.live import DraftStream

    clock = FrozenClock(datetime(2026, 1, 2, tzinfo=UTC))
    sent: list[str] = []

    async def send(html: str) -> None:
        sent.append(html)

    draft = DraftStream(send, clock, interval=0.4, refresh=20.0, wait_step=0.001)
    draft.show("")  # "Thinking…"
    draft.show("stage")  # before the first went out: only the newest is sent
    await _turns()
    draft.show("headline")
    draft.show("headline + point")
    await _turns()
    assert sent == ["stage"]  # the second waits for its turn
    clock.advance(seconds=0.4)
    await asyncio.sleep(0.01)
    assert sent == ["stage", "headline + point"]
    clock.advance(seconds=19)
    await asyncio.sleep(0.01)
    assert len(sent) == 2  # not yet 20 s unchanged
    clock.advance(seconds=1)
    await asyncio.sleep(0.01)
    assert sent == ["stage", "headline + point", "headline + point"] and draft.refreshes == 1
    await draft.close()
    clock.advance(seconds=60)
    await asyncio.sleep(0.01)
    assert len(sent) == 3  # nothing after close


async def test_a_draft_waits_out_a_429_and_stops_when_refused() -> None:
    from bot.telegram.live import Backoff, DraftStream, StopDrafts

    clock = FrozenClock(datetime(2026, 1, 2, tzinfo=UTC))
    calls: list[str] = []
    answers: list[Exception | None] = [Backoff(3.0), None, StopDrafts()]

    async def send(html: str) -> None:
        calls.append(html)
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    draft = DraftStream(send, clock, interval=0.4, refresh=20.0, wait_step=0.001)
    draft.show("one")
    await asyncio.sleep(0.01)
    assert calls == ["one"] and draft.backoffs == 1
    clock.advance(seconds=2.9)
    draft.show("two")
    await asyncio.sleep(0.01)
    assert calls == ["one"]  # still inside retry_after
    clock.advance(seconds=0.1)
    await asyncio.sleep(0.01)
    assert calls == ["one", "two"]  # the newest text, not the one refused
    clock.advance(seconds=1)
    draft.show("three")
    await asyncio.sleep(0.01)
    assert calls == ["one", "two", "three"]
    draft.show("four")  # refused: the stream has ended
    clock.advance(seconds=30)
    await asyncio.sleep(0.01)
    assert calls == ["one", "two", "three"]
    await draft.close()


def test_what_a_refused_draft_means() -> None:
    from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter

    from bot.telegram.drafts import refusal

    assert refusal(InvalidToken("Not Found")) == "server"  # PTB's name for a 404
    assert refusal(BadRequest("Bad Request: method not found")) == "server"
    assert refusal(BadRequest("Can't parse entities: unsupported start tag")) == "html"
    assert refusal(BadRequest("Message text is empty")) == "empty"
    assert refusal(BadRequest("TEXTDRAFT_PEER_INVALID")) == "chat"
    assert refusal(RetryAfter(2)) == "retry"
    assert refusal(NetworkError("connection reset")) == "other"
