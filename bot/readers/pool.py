"""A small pool of supervised reader processes (bot/readers/worker.py).

    pool = WorkerPool(size=2)
    reply = await pool.call(("pdf", inp, 30.0, 400), seconds=30.0)
    await pool.aclose()

Why our own and not `ProcessPoolExecutor`: a worker has to be killed when its read
outlives the deadline, and killing one process of a `ProcessPoolExecutor` breaks the
whole pool (every call in flight fails with BrokenProcessPool). Here each worker is a
process with its own pipe: the bot sends a request, waits for the reply up to the
deadline (in a thread of the pool's own, so the event loop never waits), and on a
timeout, a crash or a cancelled caller kills that worker alone; the next call starts
a fresh one (a fork of the forkserver, which has the readers imported: milliseconds).
bench/readers.py measures both (docs/benchmarks.md).

Workers start lazily, one when a call finds none idle (a test that reads nothing
starts none); `start()` pre-starts them all (the bot does at start-up). `aclose()`
kills them, so a stuck read never holds up a shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

PRELOAD = "bot.readers.preload"
_lock = threading.Lock()
_context: BaseContext | None = None


def context() -> BaseContext:
    """The forkserver context, its server preloading the worker module (one per process)."""
    global _context
    with _lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([PRELOAD])
            _context = ctx
        return _context


@dataclass(frozen=True)
class Stopped:
    """The worker did not answer: `why` is deadline, cpu, crashed or closed."""

    why: str


class Worker:
    """One reader process and the bot's end of its pipe."""

    def __init__(self, ctx: BaseContext) -> None:
        ours, theirs = ctx.Pipe()
        from bot.readers.worker import serve

        self.process: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=serve, args=(theirs,), name="digestbot-reader", daemon=True
        )
        self.process.start()
        theirs.close()
        self.conn: Connection = ours
        # the thread waiting in `call`, if any: only it closes the pipe, so the pipe is
        # never closed under a thread still polling it (its fd could be reused)
        self._caller: int | None = None
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.process.is_alive() and not self.conn.closed

    def call(self, request: Any, seconds: float) -> Any:
        """Send `request`, wait up to `seconds` for the reply (blocking: run in a
        thread). Returns the reply, or Stopped when the worker was killed or died."""
        with self._lock:
            self._caller = threading.get_ident()
        try:
            self.conn.send(request)
            if not self.conn.poll(seconds):
                self.kill()
                return Stopped("deadline")
            reply, retire = self.conn.recv()
            if retire:  # it exits after this reply: never hand it another read
                self.kill()
            return reply
        except (EOFError, OSError, ValueError):
            self.process.join(1)
            code = self.process.exitcode
            self.kill()
            if code == -signal.SIGXCPU:
                return Stopped("cpu")
            return Stopped("closed" if code == -signal.SIGKILL else "crashed")
        finally:
            with self._lock:
                self._caller = None

    def kill(self) -> None:
        """Kill the process (if it still runs) with its process group (a tesseract it
        started, bot/ingest/ocr.py, is in it) and close the pipe, unless another
        thread is waiting on it: that one sees the worker gone and closes it."""
        if self.process.is_alive():
            pid = self.process.pid
            try:  # the worker leads its own group (worker.serve): not yet if just forked
                if pid is not None and os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.kill()
        self.process.join(5)
        with self._lock:
            if self._caller not in (None, threading.get_ident()):
                return
            if not self.conn.closed:
                self.conn.close()


class WorkerPool:
    """At most `size` reader processes; calls beyond that wait for a free one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="readers")
        self._closed = False
        self._warming = False  # `start()` has begun and no worker is up yet
        self.started = 0  # workers started so far (for tests and the bench)

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        return self._slots

    @property
    def ready(self) -> bool:
        """False while `start()` waits for its first worker (the forkserver imports and
        warms the readers: seconds); True otherwise, a pool never pre-started too."""
        return not self._warming

    @property
    def busy(self) -> int:
        """Workers reading right now."""
        return len(self._all) - len(self._idle)

    def _spawn(self) -> Worker:
        worker = Worker(context())
        self._all.add(worker)
        self.started += 1
        return worker

    async def start(self) -> None:
        """Start every worker now (off the event loop), so the first reads pay nothing."""
        loop = asyncio.get_running_loop()
        self._warming = not self._all
        try:
            while len(self._all) < self.size and not self._closed:
                worker = await loop.run_in_executor(self._threads, self._spawn)
                self._warming = False
                if self._closed:  # closed while it started
                    self._drop(worker)
                    return
                self._idle.append(worker)
        finally:
            self._warming = False

    async def call(self, request: Any, *, seconds: float) -> Any:
        """Run `request` in a worker, waiting up to `seconds` for its reply; returns the
        reply or Stopped. A cancelled caller's worker is killed (and later replaced)."""
        if self._closed:
            return Stopped("closed")
        loop = asyncio.get_running_loop()
        async with self._semaphore():
            if self._closed:  # closed while this call waited for a worker
                return Stopped("closed")
            worker = self._idle.pop() if self._idle else None
            if worker is not None and not worker.alive:
                self._drop(worker)
                worker = None
            if worker is None:
                worker = await loop.run_in_executor(self._threads, self._spawn)
            done = False
            try:
                reply = await loop.run_in_executor(self._threads, worker.call, request, seconds)
                done = True
                return reply
            finally:
                if done and worker.alive and not self._closed:
                    self._idle.append(worker)
                else:
                    worker.kill()
                    self._drop(worker)

    def _drop(self, worker: Worker) -> None:
        self._all.discard(worker)
        worker.kill()

    async def aclose(self) -> None:
        """Kill every worker (a stuck read included) and stop the pool's threads."""
        self._closed = True
        for worker in list(self._all):
            worker.kill()
        self._all.clear()
        self._idle.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
