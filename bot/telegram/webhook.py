"""Webhook mode: a starlette app on uvicorn that receives Telegram updates.

`python -m bot run` with `WEBHOOK_URL` set calls `serve_webhook(...)`. One process
(a replica) serves, on `WEBHOOK_LISTEN:WEBHOOK_PORT`:

- `POST <path of WEBHOOK_URL>`: one update. A missing or wrong
  `X-Telegram-Bot-Api-Secret-Token` gets 403 and nothing else happens (constant-time
  compare). The update id is then claimed with Redis `SET NX` (24 h TTL, the longest
  Telegram keeps an update), so an update that Telegram retries, or posts to two
  replicas, is processed once across all replicas. The answer (200) goes out at
  once; the update is processed in the background by the python-telegram-bot
  `Application` (`process_update`), at most `WEBHOOK_MAX_CONCURRENCY` at a time.
- `GET /healthz`: liveness (200 while the process serves).
- `GET /readyz`: 200 when Redis answers PING and the bot is initialized and taking
  updates, else 503 (a load balancer stops sending to a draining replica).
- `GET /metrics`: Prometheus text (`bot.metrics`).

Bounds. Up to `WEBHOOK_MAX_CONCURRENCY` updates run at once; up to
`QUEUE_FACTOR` times that many more wait for a slot (accepted, answered 200). Beyond
that the replica answers 503 *before* claiming the update id, so Telegram retries it
later (or another replica takes it) and nothing is lost. A Redis error while
claiming also answers 503 and processes nothing.

Shutdown (SIGTERM or SIGINT, or `request_stop()`): new update POSTs get 503 and
`/readyz` 503 at once; the updates in flight (running and queued) get up to
`DRAIN_SECONDS` to finish; then the HTTP server stops, the `Application` stops and
shuts down (its `post_stop`/`post_shutdown` run), and `serve_webhook` returns
normally, so `run` exits 0. Updates still unfinished after the bound are cancelled
and logged: they were already answered 200, so Telegram will not resend them. Set
the container's stop grace period above `DRAIN_SECONDS` (compose: 30 s).

Polling mode has no update route, but the same /healthz, /readyz and /metrics serve
on the same port through `serve_health(...)`, so the container HEALTHCHECK and
Prometheus work in both modes.

The webhook itself is registered once the port is open (so Telegram's first POST
finds a listener) with `secret_token`, `ALLOWED_UPDATES` and
`drop_pending_updates=False`; every replica sets the same one, and shutting one
replica down leaves it in place for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit

import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot import metrics
from bot.config import Settings
from bot.errors import ConfigError
from bot.logs import update_id_var, user_id_var
from bot.store.redis import Store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query")
"""Update types Telegram sends us: the ones the bot handles (the same as polling)."""

SEEN_TTL_SECONDS = 24 * 3600
QUEUE_FACTOR = 8
DRAIN_SECONDS = 25.0
MAX_BODY_BYTES = 1 << 20
SECRET_HEADER = "x-telegram-bot-api-secret-token"

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class HasStore(Protocol):
    """What the webhook needs from `bot.app.Services`."""

    @property
    def store(self) -> Store: ...


def webhook_path(url: str | None) -> str:
    """The path part of WEBHOOK_URL ("/" when it has none); raises ConfigError for
    a path that would hide /healthz, /readyz or /metrics."""
    path = urlsplit(url or "").path or "/"
    if path.rstrip("/") in {"/healthz", "/readyz", "/metrics"}:
        raise ConfigError(f"WEBHOOK_URL path {path} clashes with a health or metrics endpoint")
    return path


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling (we drain first, then stop it) and
    with a start-up callback."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], object]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()


class WebhookServer:
    """The webhook ASGI app (`.app`) plus its background update processing.

    With `updates=False` it serves only /healthz, /readyz and /metrics (polling
    mode: see `serve_health`).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        application: AnyApplication,
        *,
        updates: bool = True,
        drain_seconds: float = DRAIN_SECONDS,
        max_pending: int | None = None,
    ) -> None:
        if updates and not settings.webhook_secret:
            raise ConfigError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        self.settings = settings
        self.store = store
        self.application = application
        self.updates = updates
        self.path = webhook_path(settings.webhook_url)
        self.drain_seconds = drain_seconds
        self.concurrency = settings.webhook_max_concurrency
        self.max_pending = max_pending or self.concurrency * (1 + QUEUE_FACTOR)
        self._secret = settings.webhook_secret.encode()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = False
        self._started = asyncio.Event()
        self._stop = asyncio.Event()
        self._uvicorn: _Uvicorn | None = None
        routes = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]
        if updates:
            routes.append(Route(self.path, self.receive, methods=["POST"]))
        self.app = Starlette(routes=routes)

    # --- routes ---------------------------------------------------------------

    async def receive(self, request: Request) -> Response:
        """Check, claim and queue one update; answer at once."""
        started = time.perf_counter()
        try:
            status, outcome = await self._receive(request)
        finally:
            metrics.WEBHOOK_ACK_SECONDS.observe(time.perf_counter() - started)
        metrics.WEBHOOK_REQUESTS.labels(outcome=outcome).inc()
        headers = {"Retry-After": "1"} if status == 503 else None
        return Response(status_code=status, headers=headers)

    async def _receive(self, request: Request) -> tuple[int, str]:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return 403, "forbidden"
        if not self._accepting:
            return 503, "unavailable"
        if len(self._tasks) >= self.max_pending:
            log.warning("webhook saturated (%d updates pending); asking to retry", len(self._tasks))
            return 503, "overloaded"
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return 413, "bad_request"
        try:
            data = json.loads(body)
            update_id = int(data["update_id"])
            kind = metrics.update_type(data)
        except Exception:
            log.warning("webhook got a body that is not a Telegram update")
            return 400, "bad_request"
        try:
            fresh = await self.store.redis.set(
                self.store.keys.update_seen(update_id), "1", nx=True, ex=SEEN_TTL_SECONDS
            )
        except (RedisError, OSError) as exc:
            log.warning("cannot claim update %s: %s", update_id, type(exc).__name__)
            return 503, "unavailable"
        if not fresh:
            log.debug("update %s already taken", update_id)
            return 200, "duplicate"
        metrics.UPDATES.labels(type=kind).inc()
        # Parsing into PTB objects is the costliest step: it runs after the answer.
        task = asyncio.create_task(
            self._process(data, update_id), name=f"webhook-update-{update_id}"
        )
        self._tasks.add(task)
        metrics.WEBHOOK_INFLIGHT.inc()
        task.add_done_callback(self._finished)
        return 200, "accepted"

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        bot_ok = self._accepting and (self.updates or self.application.running)
        checks = {"bot": bot_ok, "redis": await self._redis_ok()}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503
        )

    async def metrics(self, request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)

    # --- background processing -------------------------------------------------

    async def _process(self, data: dict[str, Any], update_id: int) -> None:
        async with self._slots:
            update_id_var.set(update_id)
            started = time.perf_counter()
            try:
                update = Update.de_json(data, self.application.bot)
                user = update.effective_user
                user_id_var.set(user.id if user else None)
                await self.application.process_update(update)
            except Exception:
                log.exception("update %s failed", update_id)
            finally:
                metrics.UPDATE_SECONDS.observe(time.perf_counter() - started)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        metrics.WEBHOOK_INFLIGHT.dec()

    @property
    def pending(self) -> int:
        """Updates accepted and not finished (running or waiting for a slot)."""
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Return once every accepted update has finished (keeps accepting new ones)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _redis_ok(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.store.redis.ping(), timeout=1.0))
        except (RedisError, OSError, TimeoutError):
            return False

    # --- life cycle ----------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does): refuse new updates at once."""
        if not self._stop.is_set():
            log.info("stopping: refusing new updates, finishing %d in flight", self.pending)
        self._accepting = False
        self._stop.set()

    async def drain(self, timeout: float) -> int:  # noqa: ASYNC109
        """Wait up to `timeout` s for accepted updates; cancel the rest; return how
        many were cancelled."""
        self._accepting = False
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.error(
                "shutdown: %d updates unfinished after %.0f s, cancelled", len(pending), timeout
            )
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)

    @property
    def bound_port(self) -> int | None:
        """The TCP port uvicorn listens on (useful with WEBHOOK_PORT=0), once started."""
        if self._uvicorn is None or not self._uvicorn.servers:
            return None
        for server in self._uvicorn.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None

    async def run(self, *, ready: asyncio.Event | None = None, handle_signals: bool = True) -> None:
        """Start the bot and the HTTP server, serve until `request_stop()` (or
        SIGTERM/SIGINT when `handle_signals`), then shut down gracefully.

        Raises ConfigError when the port cannot be bound.
        """
        app = self.application
        await app.initialize()
        try:
            if app.post_init:
                await app.post_init(app)
            await app.start()
            try:
                await self.serve_http(
                    ready=ready, handle_signals=handle_signals, on_listening=self._set_webhook
                )
            finally:
                await self.drain(self.drain_seconds)
                await app.stop()
                if app.post_stop:
                    await app.post_stop(app)
        finally:
            await app.shutdown()
            if app.post_shutdown:
                await app.post_shutdown(app)
            for handler in logging.getLogger().handlers:
                handler.flush()
        log.info("webhook server stopped")

    async def _set_webhook(self) -> None:
        """Point Telegram at WEBHOOK_URL, once this replica listens and takes updates."""
        await self.application.bot.set_webhook(
            url=self.settings.webhook_url or "",
            secret_token=self.settings.webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
            max_connections=max(1, min(100, self.concurrency)),
        )

    async def serve_http(
        self,
        *,
        ready: asyncio.Event | None = None,
        handle_signals: bool = True,
        on_listening: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Serve HTTP until `request_stop()` (or SIGTERM/SIGINT when `handle_signals`);
        drain accepted updates (bounded), then stop listening. Does not touch the
        Application's life cycle (`run()` does).

        Once the port is open (and updates are taken), `on_listening` is awaited, then
        `ready` is set. Raises ConfigError when the port cannot be bound, and whatever
        `on_listening` raises (after closing the port).
        """
        config = uvicorn.Config(
            self.app,
            host=self.settings.webhook_listen,
            port=self.settings.webhook_port,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
        )
        server = self._uvicorn = _Uvicorn(config, self._started.set)
        serve = asyncio.create_task(self._serve_uvicorn(server))
        with self._signals(handle_signals):
            listening = asyncio.create_task(self._started.wait())
            await asyncio.wait({serve, listening}, return_when=asyncio.FIRST_COMPLETED)
            listening.cancel()
            if not serve.done():
                self._accepting = True
                log.info(
                    "serving %s on %s:%s",
                    self.path if self.updates else "/healthz, /readyz, /metrics",
                    self.settings.webhook_listen,
                    self.bound_port,
                )
                try:
                    if on_listening is not None:
                        await on_listening()
                except BaseException:
                    self._accepting = False
                    server.should_exit = True
                    await asyncio.gather(serve, return_exceptions=True)
                    raise
                if ready is not None:
                    ready.set()
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait({serve, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not serve.done():
                # Draining while still serving: /readyz says 503, new posts get 503.
                await self.drain(self.drain_seconds)
                server.should_exit = True
            await serve

    async def _serve_uvicorn(self, server: _Uvicorn) -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits on a port it cannot bind
            raise ConfigError(
                f"cannot listen on {self.settings.webhook_listen}:{self.settings.webhook_port}"
            ) from None

    @contextlib.contextmanager
    def _signals(self, enabled: bool) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        sigs = (signal.SIGTERM, signal.SIGINT)
        installed = []
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in sigs:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.request_stop)
                    installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


async def serve_webhook(
    settings: Settings,
    services: HasStore,
    application: AnyApplication,
    *,
    ready: asyncio.Event | None = None,
    handle_signals: bool = True,
    drain_seconds: float = DRAIN_SECONDS,
) -> None:
    """Serve the webhook until SIGTERM/SIGINT, then drain and return (exit 0).

    `application` is built but not initialized: this function initializes, starts,
    stops and shuts it down (running its post_init/post_stop/post_shutdown hooks).
    The webhook is set once the port is open; `ready` is set after that. Raises ConfigError for a missing
    WEBHOOK_SECRET, a clashing path, or a port it cannot bind.
    """
    settings.require_webhook()
    server = WebhookServer(settings, services.store, application, drain_seconds=drain_seconds)
    await server.run(ready=ready, handle_signals=handle_signals)


async def count_update(update: object, context: object) -> None:
    """Polling mode's update counter (the webhook counts in `receive`): register as
    `app.add_handler(TypeHandler(Update, count_update), group=-100)`."""
    if isinstance(update, Update):
        kind = next((n for n in metrics.UPDATE_TYPES if getattr(update, n, None)), "other")
        metrics.UPDATES.labels(type=kind).inc()


async def serve_health(
    settings: Settings,
    services: HasStore,
    application: AnyApplication,
    *,
    ready: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Polling mode: serve /healthz, /readyz and /metrics on WEBHOOK_LISTEN:WEBHOOK_PORT
    until SIGTERM/SIGINT, then return (the caller then stops the updater and the
    Application, which it started). /readyz is 200 while Redis answers and the
    Application is running. Raises ConfigError when the port cannot be bound.
    """
    server = WebhookServer(settings, services.store, application, updates=False)
    await server.serve_http(ready=ready, handle_signals=handle_signals)
