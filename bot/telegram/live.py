"""A message that grows while the model writes it: throttled edits of the placeholder.

`LiveMessage.show(html)` asks for the placeholder to read `html`. It is edited at once
when it is the first, or the last one is at least `interval` seconds old (by the
injected clock), else once that time has come; only the newest text is ever sent, and never two
edits at the same time. `close()` stops it and waits for an edit in flight, so the
final reply (which carries the keyboard) always comes last. Each `html` must be whole,
valid Telegram HTML: the chat layer renders complete pieces only, escaped.

`DraftStream` is the same for a private chat's draft (Bot API `sendMessageDraft`): an
ephemeral preview, paced by what the eye needs rather than by the edit limit, and sent
again while nothing new comes so it does not vanish (a draft lasts about 30 s).

`KeepTyping` repeats the "typing" action until the final reply.

Telegram allows about one message a second per chat (20 a minute in groups and
channels): digests edit at most every PRIVATE_INTERVAL seconds in a private chat
(one whose Bot API server refused drafts), GROUP_INTERVAL in a group or a channel, and the live messages of one chat share that
pace (given `chat_id`). A failing edit is logged and skipped; the
final reply does not depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

from bot.clock import Clock

log = logging.getLogger(__name__)

PRIVATE_INTERVAL = 1.5
GROUP_INTERVAL = 3.0
WAIT_STEP = 0.25  # seconds between looks at the clock while waiting for a turn
# drafts: a change shows at most every DRAFT_INTERVAL seconds (a digest changes once per
# whole, checked point, so this only merges points that finish together; measured in
# docs/benchmarks.md "streaming": no 429 at this pace), and a draft unchanged for
# DRAFT_REFRESH seconds is sent again (Telegram drops it after about 30 s)
DRAFT_INTERVAL = 0.4
DRAFT_REFRESH = 20.0
DRAFT_TURN_STEP = 0.02  # seconds between looks at the clock while a draft waits its turn

Edit = Callable[[str], Awaitable[None]]

# when each chat's next live edit may be made, shared by every live message in the chat
# (Telegram's limit is the chat's, not the message's: two digests growing at once in a
# group take turns); one table per clock (the bot's), so times are always comparable
_TURNS: weakref.WeakKeyDictionary[Clock, dict[int, float]] = weakref.WeakKeyDictionary()
# the same for drafts, apart: Telegram counts drafts apart from messages and edits
_DRAFT_TURNS: weakref.WeakKeyDictionary[Clock, dict[int, float]] = weakref.WeakKeyDictionary()
_PRUNE_AT = 10_000  # chats in a table before the past turns are dropped


def _book(turns: dict[int, float], chat: int, at: float, now: float) -> None:
    if len(turns) >= _PRUNE_AT:
        for key in [k for k, t in turns.items() if t < now]:
            del turns[key]
    turns[chat] = at


class LiveMessage:
    """Throttled edits of one message (see the module doc)."""

    def __init__(
        self, edit: Edit, clock: Clock, *, interval: float, chat_id: int | None = None
    ) -> None:
        self._edit = edit
        self._clock = clock
        self.interval = interval
        self.chat_id = chat_id  # shares the chat's pace with its other live messages
        self._turns = _TURNS.setdefault(clock, {})
        self.edits = 0
        self._last = float("-inf")  # the first text shows at once
        self._latest: str | None = None
        self._shown: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._editing = False

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def show(self, html: str) -> None:
        """Have the message read `html` as soon as the throttle allows."""
        if self._closed or html == self._shown:
            return
        self._latest = html
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._closed and self._latest is not None and self._latest != self._shown:
            await self._wait_for_turn()
            html = self._latest
            self._last = self._now()
            self._editing = True
            try:
                await self._edit(html)
            except Exception as exc:  # the final reply still comes; never stop for this
                log.warning("a live edit failed: %s", exc)
            finally:
                self._editing = False
            self._shown = html
            self.edits += 1

    async def _wait_for_turn(self) -> None:
        """Sleep until this message's next edit is due: `interval` after its last one
        and, sharing the chat, after the turns other messages booked first (booked
        in order, so each gets its turn)."""
        turn = max(self._last + self.interval, self._now())
        if self.chat_id is not None:
            turn = max(turn, self._turns.get(self.chat_id, turn))
            _book(self._turns, self.chat_id, turn + self.interval, self._now())
        while True:  # by the clock, in short steps (a test's clock may run faster)
            wait = turn - self._now()
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, WAIT_STEP))

    async def close(self) -> None:
        """Stop editing; an edit already in flight finishes first."""
        self._closed = True
        task, self._task = self._task, None
        if task is None or task.done():
            return
        # one asleep is waiting for its turn: end it; one inside an edit: let it land
        # (a cancelled request could still reach Telegram after the final reply)
        if not self._editing:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Backoff(Exception):
    """Raised by a draft sender: wait `seconds` (by the clock) before the next draft
    (Telegram's 429 retry_after); the text waiting is sent then."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class StopDrafts(Exception):
    """Raised by a draft sender: no more drafts (the chat went back to edits)."""


class DraftStream:
    """A private chat's draft that follows the reply being written (see the module doc).

    `show(html)` asks for the draft to read `html` ("" shows Telegram's "Thinking…");
    the newest text goes out at once when the last draft is `interval` old, else when
    it is; only the newest is ever sent, one call at a time. While nothing changes, the
    shown text is sent again every `refresh` seconds. A `send` raising Backoff delays
    the next draft (the text is kept); StopDrafts ends the stream; anything else is
    logged and skipped. `close()` ends it; a draft in flight lands first, so the final
    message always comes after the last draft.
    """

    def __init__(
        self,
        send: Edit,
        clock: Clock,
        *,
        interval: float | None = None,
        refresh: float = DRAFT_REFRESH,
        chat_id: int | None = None,
        wait_step: float = WAIT_STEP,
    ) -> None:
        self._send = send
        self._clock = clock
        self.interval = DRAFT_INTERVAL if interval is None else interval  # (bench: module value)
        self.refresh = refresh
        self.chat_id = chat_id
        self.wait_step = wait_step
        self._turns = _DRAFT_TURNS.setdefault(clock, {})
        self.drafts = 0  # drafts sent (refreshes included)
        self.refreshes = 0
        self.backoffs = 0
        self._last = float("-inf")  # when the last draft went out
        self._latest: str | None = None
        self._shown: str | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._sending = False

    @property
    def latest(self) -> str | None:
        """The newest text asked for (shown or not)."""
        return self._latest

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def show(self, html: str) -> None:
        """Have the draft read `html` as soon as the pace allows."""
        if self._closed or html == self._latest:
            return
        self._latest = html
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._closed and self._latest is not None:
            if self._latest != self._shown:
                await self._wait_for_turn()
            elif not await self._idle_until(self._last + self.refresh):
                continue  # a new text came while waiting: its turn first
            else:
                self.refreshes += 1
            if self._closed:
                return
            html = self._latest
            self._last = self._now()
            self._sending = True
            try:
                await self._send(html)
            except Backoff as exc:
                self.backoffs += 1
                self._last = self._now() + exc.seconds - self.interval
                continue  # not shown: sent again once the wait is over
            except StopDrafts:
                self._closed = True
                return
            except Exception as exc:  # the final message still comes
                log.warning("a draft failed: %s", exc)
            finally:
                self._sending = False
            self._shown = html
            self.drafts += 1

    async def _wait_for_turn(self) -> None:
        """Until `interval` after the last draft (and the chat's turn, shared)."""
        turn = max(self._last + self.interval, self._now())
        if self.chat_id is not None:
            turn = max(turn, self._turns.get(self.chat_id, turn))
            _book(self._turns, self.chat_id, turn + self.interval, self._now())
        while not self._closed:
            wait = turn - self._now()
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, self.wait_step, DRAFT_TURN_STEP))

    async def _idle_until(self, at: float) -> bool:
        """Wait by the clock until `at`; False as soon as a new text is asked for."""
        self._changed.clear()
        while not self._closed and self._latest == self._shown:
            if self._now() >= at:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.wait_step)
        return False

    async def close(self) -> None:
        """Stop; a draft already in flight lands first."""
        self._closed = True
        self._changed.set()
        task, self._task = self._task, None
        if task is None or task.done():
            return
        if not self._sending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class KeepTyping:
    """A chat action repeated every `every` seconds (Telegram shows one for 5 s) from
    `start()` until `stop()`."""

    def __init__(self, send: Callable[[], Awaitable[None]], every: float = 4.0) -> None:
        self._send = send
        self.every = every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._send()
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self._send()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
