"""One Telegram lifecycle for polling and webhook: python-telegram-bot's own.

`running(app)` drives the `Application` as PTB's `run_polling`/`run_webhook` do, for a
process that serves HTTP itself (PTB's customwebhookbot pattern): `async with app`
(initialize/shutdown) with the builder's `post_init` after initialize, then `start()`;
on exit the updater (if polling) stops, the updates in flight get a bounded drain,
then `stop()` with `post_stop`, and `post_shutdown` after shutdown.

Updates reach handlers one way in both modes: through `app.update_queue`, where the
updater (polling) or the webhook route puts them, and PTB's update processor, so
`ApplicationBuilder.concurrent_updates(...)` bounds them in both. `UpdateProcessor`
is that processor plus what the bot needs around each update: the processing time
(`digestbot_update_seconds`), a logged failure, the webhook's count of accepted and
unfinished updates (`expect`/`pending`), and a bounded drain on shutdown.

Slots. At most `max_concurrent_updates` handlers work at once, each holding a slot;
a handler that has to wait for a chat's pace (Telegram allows about 20 messages a
minute in a group: bot/telegram/ratelimit.py) lends its slot back while it waits
(`slot_lent`) and takes one again before it goes on. Otherwise one busy group fills
every slot with handlers asleep on its pace, and every other chat waits behind them
(a private /start took 26 s after 60 /help in one group). PTB's own bound on updates
in flight (waiting ones included) is PACED_FACTOR times larger.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

from bot import metrics
from bot.logs import update_id_var

log = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

DRAIN_SECONDS = 25.0
"""How long updates in flight may take to finish once shutdown begins."""
CANCEL_GRACE_SECONDS = 5.0
"""After the drain: how long cancelled updates may take to unwind."""
PACED_FACTOR = 32
"""Updates in flight (working, or waiting for a chat's pace) per working slot."""


class _Slots:
    """The working slots (a semaphore that counts the slots taken)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0
        self._free = asyncio.Semaphore(size)

    async def take(self) -> None:
        await self._free.acquire()
        self.taken += 1

    def give(self) -> None:
        self.taken -= 1
        self._free.release()


@dataclass
class _Slot:
    """The working slot of one update's task (see the module doc)."""

    slots: _Slots
    owner: asyncio.Task[Any] | None = None
    held: bool = True


_SLOT: ContextVar[_Slot | None] = ContextVar("update_slot", default=None)


@contextlib.asynccontextmanager
async def slot_lent() -> AsyncIterator[None]:
    """Give the running update's working slot back for the duration of the block (a wait
    that does no work), and take one again after it. Outside an update's own task
    (a briefing, a live edit's helper task) it does nothing."""
    slot = _SLOT.get()
    if slot is None or not slot.held or slot.owner is not asyncio.current_task():
        yield
        return
    slot.held = False
    slot.slots.give()
    try:
        yield
    finally:
        await slot.slots.take()  # cancelled while waiting: not held, not given back
        slot.held = True


class UpdateProcessor(BaseUpdateProcessor):
    """PTB's update processor (at most `max_concurrent_updates` at once) with
    bookkeeping; pass it to `ApplicationBuilder.concurrent_updates(...)`."""

    def __init__(self, max_concurrent_updates: int) -> None:
        self._slots = _Slots(max_concurrent_updates)
        # PTB sizes its semaphore (updates in flight, paced ones included) from the
        # `max_concurrent_updates` property while it builds it
        self._ptb_bound: int | None = max_concurrent_updates * PACED_FACTOR
        super().__init__(self._ptb_bound)
        self._ptb_bound = None
        self._expected: set[int] = set()  # update ids accepted by the webhook, unfinished
        self._none_expected = asyncio.Event()
        self._none_expected.set()
        self._running: set[asyncio.Task[Any]] = set()
        self._closing = False

    async def initialize(self) -> None:
        self._closing = False

    async def shutdown(self) -> None:
        """Nothing to free: `drain` has already settled every update."""

    @property
    def max_concurrent_updates(self) -> int:
        """Most updates whose handlers work at once (waiting for a chat's pace is not
        working: see the module doc)."""
        if self._ptb_bound is not None:
            return self._ptb_bound
        return self._slots.size

    @property
    def current_concurrent_updates(self) -> int:
        """Updates whose handlers hold a working slot now."""
        return self._slots.taken

    # --- the webhook's accepted updates ------------------------------------------------

    def expect(self, update_id: int) -> None:
        """Count an update as pending from the moment the webhook accepts it (before it
        is parsed and put on the queue) until it has been processed."""
        self._expected.add(update_id)
        self._none_expected.clear()
        metrics.WEBHOOK_INFLIGHT.inc()

    def settle(self, update_id: int | None) -> None:
        """The update has been processed (or dropped): it is no longer pending."""
        if update_id in self._expected:
            self._expected.discard(update_id)
            metrics.WEBHOOK_INFLIGHT.dec()
            if not self._expected:
                self._none_expected.set()

    @property
    def pending(self) -> int:
        """Updates the webhook accepted that have not finished (queued, waiting or running)."""
        return len(self._expected)

    # --- processing ---------------------------------------------------------------------

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run one update's handlers (PTB's `process_update`) as a task of its own, once
        a working slot is free, so that a drain can cancel it without cancelling PTB's
        update fetcher."""
        update_id = update.update_id if isinstance(update, Update) else None
        if self._closing:
            self._drop(update_id, coroutine)
            return
        try:
            await self._slots.take()
        except asyncio.CancelledError:
            self._drop(update_id, coroutine)
            raise
        if self._closing:  # the drain began while it waited for a slot
            self._slots.give()
            self._drop(update_id, coroutine)
            return
        token = update_id_var.set(update_id)
        slot = _Slot(self._slots)
        slot_token = _SLOT.set(slot)  # the task's context is a copy: it sees the slot
        task = asyncio.ensure_future(coroutine)
        _SLOT.reset(slot_token)
        slot.owner = task
        self._running.add(task)
        started = time.perf_counter()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise
            log.error("update %s cancelled before it finished", update_id)
        except Exception:
            log.exception("update %s failed", update_id)
        finally:
            if slot.held:
                slot.held = False
                self._slots.give()
            self._running.discard(task)
            metrics.UPDATE_SECONDS.observe(time.perf_counter() - started)
            self.settle(update_id)
            update_id_var.reset(token)

    def _drop(self, update_id: int | None, coroutine: Awaitable[Any]) -> None:
        if inspect.iscoroutine(coroutine):
            coroutine.close()
        log.warning("update %s dropped: shutting down", update_id)
        self.settle(update_id)

    async def wait_idle(self, queue: asyncio.Queue[object]) -> None:
        """Return once every update put on `queue` or accepted by the webhook has finished."""
        while True:
            await self._none_expected.wait()
            await queue.join()
            if not self._expected:
                return

    async def drain(self, queue: asyncio.Queue[object], timeout: float) -> int:  # noqa: ASYNC109
        """Wait up to `timeout` s for the pending updates; cancel the running ones and
        drop the rest after that; return how many did not finish."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait_idle(queue), timeout)
            return 0
        unfinished = max(len(self._expected), len(self._running))
        log.error("shutdown: %d updates unfinished after %.0f s, cancelling", unfinished, timeout)
        self._closing = True
        for task in list(self._running):
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait_idle(queue), CANCEL_GRACE_SECONDS)
        return unfinished


def processor_of(app: AnyApplication) -> UpdateProcessor | None:
    """The application's `UpdateProcessor`, or None when it was built with another one."""
    processor = app.update_processor
    return processor if isinstance(processor, UpdateProcessor) else None


@contextlib.asynccontextmanager
async def running(
    app: AnyApplication, *, drain_seconds: float = DRAIN_SECONDS
) -> AsyncIterator[AnyApplication]:
    """Initialize and start `app` (running its `post_init`); on exit stop the updater
    if it runs, drain the updates in flight for up to `drain_seconds`, stop
    (`post_stop`) and shut down (`post_shutdown`), as PTB's `run_*` methods do."""
    try:
        async with app:
            if app.post_init:
                await app.post_init(app)
            await app.start()
            try:
                yield app
            finally:
                if app.updater is not None and app.updater.running:
                    await app.updater.stop()
                processor = processor_of(app)
                if processor is not None:
                    await processor.drain(app.update_queue, drain_seconds)
                await app.stop()
                if app.post_stop:
                    await app.post_stop(app)
    finally:
        if app.post_shutdown:
            await app.post_shutdown(app)
