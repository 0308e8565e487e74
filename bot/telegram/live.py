"""A message that grows while the model writes it: throttled edits of the placeholder.

`LiveMessage.show(html)` asks for the placeholder to read `html`. It is edited at once
when it is the first, or the last one is at least `interval` seconds old (by the
injected clock), else once that time has come; only the newest text is ever sent, and never two
edits at the same time. `close()` stops it and waits for an edit in flight, so the
final reply (which carries the keyboard) always comes last. Each `html` must be whole,
valid Telegram HTML: the chat layer renders complete pieces only, escaped.

`KeepTyping` repeats the "typing" action until the final reply.

Telegram allows about one message a second per chat (20 a minute in groups and
channels): digests edit at most every PRIVATE_INTERVAL seconds in a private chat,
GROUP_INTERVAL in a group or a channel. A failing edit is logged and skipped; the
final reply does not depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.clock import Clock

log = logging.getLogger(__name__)

PRIVATE_INTERVAL = 1.5
GROUP_INTERVAL = 3.0

Edit = Callable[[str], Awaitable[None]]


class LiveMessage:
    """Throttled edits of one message (see the module doc)."""

    def __init__(self, edit: Edit, clock: Clock, *, interval: float) -> None:
        self._edit = edit
        self._clock = clock
        self.interval = interval
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
            wait = self._last + self.interval - self._now()
            if wait > 0:
                await asyncio.sleep(min(wait, self.interval))
                continue
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
