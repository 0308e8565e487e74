"""Coalescing concurrent calls into one batched call (delivery's and compose's Redis
round trips)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Batched"]


class Batched:
    """Coalesces requests made at about the same moment (same event-loop turn) into one
    call of `run(items) -> results`; each caller awaits its own result."""

    def __init__(self, run: Callable[[list[Any]], Awaitable[list[Any]]], limit: int = 500):
        self.run = run
        self.limit = limit
        self.queue: list[tuple[Any, asyncio.Future[Any]]] = []
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, item: Any) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.append((item, fut))
        if self.task is None:
            self.task = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self.queue:
                await asyncio.sleep(0)  # let the other ready tasks queue theirs
                batch, self.queue = self.queue[: self.limit], self.queue[self.limit :]
                try:
                    results = await self.run([item for item, _ in batch])
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                except BaseException:  # cancelled: so are its callers' waits
                    for _, fut in batch:
                        fut.cancel()
                    raise
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self.task = None
            for _, fut in self.queue:  # cancelled while waiting: nobody is left hanging
                if not fut.done():
                    fut.cancel()
            self.queue = []
