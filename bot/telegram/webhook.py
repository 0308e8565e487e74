"""Webhook mode: Telegram posts updates to a starlette route on uvicorn.

`python -m bot run` with `WEBHOOK_URL` set calls `serve_webhook(...)`. One process
(a replica) serves, on `WEBHOOK_LISTEN:WEBHOOK_PORT`, the health and metrics
endpoints of bot/telegram/health.py and:

- `POST <path of WEBHOOK_URL>`: one update. A missing or wrong
  `X-Telegram-Bot-Api-Secret-Token` gets 403 and nothing else happens (constant-time
  compare). The update id is then claimed with Redis `SET NX` (24 h TTL, the longest
  Telegram keeps an update), so an update that Telegram retries, or posts to two
  replicas, is processed once across all replicas. The answer (200) goes out at
  once; after it the update is parsed (`Update.de_json`) and put on the
  Application's `update_queue`, as PTB's customwebhookbot example does, so PTB's
  update processor runs it: at most `concurrent_updates` at a time, as in polling
  (bot/telegram/lifecycle.py).

Bounds. Up to `QUEUE_FACTOR` times the processor's concurrency more updates may wait
(accepted, answered 200). Beyond that the replica answers 503 *before* claiming the
update id, so Telegram retries it later (or another replica takes it) and nothing is
lost. A Redis error while claiming also answers 503 and processes nothing.

Shutdown (SIGTERM or SIGINT, or `request_stop()`): new update POSTs get 503 and
`/readyz` 503 at once; the accepted updates get up to `DRAIN_SECONDS` to finish; then
the HTTP server stops and the Application stops and shuts down (lifecycle.running),
and `serve_webhook` returns normally, so `run` exits 0. Updates still unfinished
after the bound are cancelled and logged: they were already answered 200, so
Telegram will not resend them. Set the container's stop grace period above
`DRAIN_SECONDS` (compose: 30 s).

The webhook itself is registered once the port is open (so Telegram's first POST
finds a listener) with `secret_token`, `ALLOWED_UPDATES` and
`drop_pending_updates=False`; every replica sets the same one, and shutting one
replica down leaves it in place for the others.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update

from bot import metrics
from bot.config import Settings
from bot.errors import ConfigError
from bot.store.redis import Store
from bot.telegram.health import HasStore, HealthServer
from bot.telegram.lifecycle import DRAIN_SECONDS, AnyApplication, processor_of, running

__all__ = ["ALLOWED_UPDATES", "DRAIN_SECONDS", "SEEN_TTL_SECONDS", "WebhookServer"]

log = logging.getLogger(__name__)

ALLOWED_UPDATES = (
    "message",
    "edited_message",  # read again, answered once per content (bot/chat/edits.py)
    "callback_query",
    "channel_post",
    "inline_query",
    "my_chat_member",
)
"""Update types Telegram sends us: the ones the bot handles (the same as polling)."""

SEEN_TTL_SECONDS = 24 * 3600
QUEUE_FACTOR = 8
MAX_BODY_BYTES = 1 << 20
SECRET_HEADER = "x-telegram-bot-api-secret-token"


def webhook_path(url: str | None) -> str:
    """The path part of WEBHOOK_URL ("/" when it has none); raises ConfigError for
    a path that would hide /healthz, /readyz or /metrics."""
    path = urlsplit(url or "").path or "/"
    if path.rstrip("/") in {"/healthz", "/readyz", "/metrics"}:
        raise ConfigError(f"WEBHOOK_URL path {path} clashes with a health or metrics endpoint")
    return path


async def _capped_body(request: Request) -> bytes | None:
    """The request's body, or None once it is over MAX_BODY_BYTES: refused on its
    Content-Length before reading, else while it is read (not after holding all of it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


class WebhookServer(HealthServer):
    """The webhook ASGI app (`.app`): health endpoints plus the update route.

    `application` must be built with `.concurrent_updates(UpdateProcessor(n))`
    (bot.telegram.lifecycle), which bounds the updates running at once and counts
    the accepted ones.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        application: AnyApplication,
        *,
        drain_seconds: float = DRAIN_SECONDS,
        max_pending: int | None = None,
    ) -> None:
        if not settings.webhook_secret:
            raise ConfigError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        self.path = webhook_path(settings.webhook_url)
        processor = processor_of(application)
        if processor is None:
            raise TypeError("build the Application with .concurrent_updates(UpdateProcessor(n))")
        self.processor = processor
        self.drain_seconds = drain_seconds
        self.concurrency = processor.max_concurrent_updates
        self.max_pending = max_pending or self.concurrency * (1 + QUEUE_FACTOR)
        self._secret = settings.webhook_secret.encode()
        if not settings.metrics_token:
            log.warning("METRICS_TOKEN is not set: /metrics is closed on the webhook port")
        super().__init__(settings, store, application)

    public = True  # /metrics needs METRICS_TOKEN here (bot/telegram/health.py)

    def routes(self) -> list[Route]:
        return [*super().routes(), Route(self.path, self.receive, methods=["POST"])]

    def describe(self) -> str:
        return self.path

    async def receive(self, request: Request) -> Response:
        """Check and claim one update; answer at once, then queue it."""
        started = time.perf_counter()
        try:
            status, outcome, data = await self._receive(request)
        finally:
            metrics.WEBHOOK_ACK_SECONDS.observe(time.perf_counter() - started)
        metrics.WEBHOOK_REQUESTS.labels(outcome=outcome).inc()
        headers = {"Retry-After": "1"} if status == 503 else None
        # Parsing into PTB objects is the costliest step: it runs after the answer.
        background = BackgroundTask(self._enqueue, data) if data is not None else None
        return Response(status_code=status, headers=headers, background=background)

    async def _receive(self, request: Request) -> tuple[int, str, dict[str, Any] | None]:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return 403, "forbidden", None
        if not self.accepting:
            return 503, "unavailable", None
        if self.pending >= self.max_pending:
            log.warning("webhook saturated (%d updates pending); asking to retry", self.pending)
            return 503, "overloaded", None
        body = await _capped_body(request)
        if body is None:
            return 413, "bad_request", None
        try:
            data = json.loads(body)
            update_id = int(data["update_id"])
            kind = metrics.update_type(data)
        except Exception:
            log.warning("webhook got a body that is not a Telegram update")
            return 400, "bad_request", None
        try:
            fresh = await self.store.redis.set(
                self.store.keys.update_seen(update_id), "1", nx=True, ex=SEEN_TTL_SECONDS
            )
        except (RedisError, OSError) as exc:
            log.warning("cannot claim update %s: %s", update_id, type(exc).__name__)
            return 503, "unavailable", None
        if not fresh:
            log.debug("update %s already taken", update_id)
            return 200, "duplicate", None
        metrics.UPDATES.labels(type=kind).inc()
        self.processor.expect(update_id)
        return 200, "accepted", data

    async def _enqueue(self, data: dict[str, Any]) -> None:
        """Parse an accepted update and hand it to the Application's update queue."""
        update_id = int(data["update_id"])
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception:
            log.exception("update %s cannot be parsed", update_id)
            self.processor.settle(update_id)
            return
        await self.application.update_queue.put(update)

    @property
    def pending(self) -> int:
        """Updates accepted and not finished (queued, waiting for a slot, or running)."""
        return self.processor.pending

    async def wait_idle(self) -> None:
        """Return once every accepted update has finished (keeps accepting new ones)."""
        await self.processor.wait_idle(self.application.update_queue)

    # --- life cycle ------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does): refuse new updates at once."""
        if self.accepting:
            log.info("stopping: refusing new updates, finishing %d in flight", self.pending)
        super().request_stop()

    async def drain(self) -> None:
        """Finish the accepted updates (bounded by `drain_seconds`), while still serving."""
        self.accepting = False
        await self.processor.drain(self.application.update_queue, self.drain_seconds)

    async def run(self, *, ready: asyncio.Event | None = None, handle_signals: bool = True) -> None:
        """Start the Application (lifecycle.running) and the HTTP server, serve until
        `request_stop()` (or SIGTERM/SIGINT when `handle_signals`), then shut down
        gracefully. Raises ConfigError when the port cannot be bound, and the Bot
        API's error when Telegram refuses the webhook.
        """
        async with running(self.application, drain_seconds=self.drain_seconds):
            await self.serve_http(
                ready=ready, handle_signals=handle_signals, on_listening=self._set_webhook
            )
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
    The webhook is set once the port is open; `ready` is set after that. Raises
    ConfigError for a missing WEBHOOK_SECRET, a clashing path, or a port it cannot bind.
    """
    settings.require_webhook()
    server = WebhookServer(settings, services.store, application, drain_seconds=drain_seconds)
    await server.run(ready=ready, handle_signals=handle_signals)
