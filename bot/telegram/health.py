"""Health and metrics over HTTP, in both modes, on WEBHOOK_LISTEN:WEBHOOK_PORT.

- `GET /healthz`: liveness (200 while the process serves).
- `GET /readyz`: 200 when Redis answers PING and the bot is started and taking
  updates, else 503 (a load balancer stops sending to a draining replica).
- `GET /metrics`: Prometheus text (`bot.metrics`). With `METRICS_TOKEN` set it needs
  `Authorization: Bearer <token>` (or `?token=<token>`), else 401. Without a token it
  is open only in polling mode (the port is the operator's health port); on the
  webhook server, whose port is public by design, it answers 403 until a token is set.

`HealthServer` is a starlette app on uvicorn that serves those until `request_stop()`
(or SIGTERM/SIGINT). In polling mode `serve_health(...)` runs it beside the updater,
so the container HEALTHCHECK and Prometheus work in both modes; the webhook server
(bot/telegram/webhook.py) is a `HealthServer` with the update route added.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update

from bot import metrics
from bot.config import Settings
from bot.errors import ConfigError
from bot.store.redis import Store
from bot.telegram.context import BotData
from bot.telegram.lifecycle import AnyApplication

log = logging.getLogger(__name__)


class HasStore(Protocol):
    """What the HTTP servers need from `bot.app.Services`."""

    @property
    def store(self) -> Store: ...


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


class HealthServer:
    """/healthz, /readyz and /metrics for `application` (started by the caller)."""

    public = False  # True on the webhook server: its port faces the internet

    def __init__(self, settings: Settings, store: Store, application: AnyApplication) -> None:
        self.settings = settings
        self.store = store
        self.application = application
        self.accepting = False  # serving, and not shutting down
        self._started = asyncio.Event()
        self._stop = asyncio.Event()
        self._uvicorn: _Uvicorn | None = None
        self.app = Starlette(routes=self.routes())

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    def describe(self) -> str:
        return "/healthz, /readyz, /metrics"

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        # the bot is ready once its reader workers are up too (started with it: a few
        # seconds), so the first upload or pasted article does not wait for them
        data = self.application.bot_data  # a BotData when built by build_application
        services = data.services if isinstance(data, BotData) else None
        readers = services.readers if services is not None else None
        checks = {
            "bot": self.accepting
            and self.application.running
            and (readers is None or bool(readers.ready)),
            "redis": await self._redis_ok(),
        }
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503
        )

    async def metrics(self, request: Request) -> Response:
        token = self.settings.metrics_token
        if not token:
            if self.public:
                return Response("set METRICS_TOKEN to read /metrics here\n", status_code=403)
            return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
        given = request.headers.get("authorization", "")
        given = given[7:] if given.lower().startswith("bearer ") else ""
        given = given or request.query_params.get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response(
                "unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)

    async def _redis_ok(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.store.redis.ping(), timeout=1.0))
        except (RedisError, OSError, TimeoutError):
            return False

    # --- life cycle ------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does): not ready any more, at once."""
        self.accepting = False
        self._stop.set()

    async def drain(self) -> None:
        """Called once a stop is requested, while still serving (webhook: finish the
        accepted updates); nothing to do here."""

    @property
    def bound_port(self) -> int | None:
        """The TCP port uvicorn listens on (useful with WEBHOOK_PORT=0), once started."""
        if self._uvicorn is None or not self._uvicorn.servers:
            return None
        for server in self._uvicorn.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None

    async def serve_http(
        self,
        *,
        ready: asyncio.Event | None = None,
        handle_signals: bool = True,
        on_listening: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Serve HTTP until `request_stop()` (or SIGTERM/SIGINT when `handle_signals`);
        `drain()`, then stop listening. Does not touch the Application's life cycle.

        Once the port is open, `on_listening` is awaited, then `ready` is set. Raises
        ConfigError when the port cannot be bound, and whatever `on_listening` raises
        (after closing the port).
        """
        server = self._uvicorn = _Uvicorn(self._config(), self._started.set)
        serve = asyncio.create_task(self._serve_uvicorn(server))
        with self._signals(handle_signals):
            listening = asyncio.create_task(self._started.wait())
            await asyncio.wait({serve, listening}, return_when=asyncio.FIRST_COMPLETED)
            listening.cancel()
            if not serve.done():
                await self._listening(server, serve, on_listening)
                if ready is not None:
                    ready.set()
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait({serve, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not serve.done():
                await self.drain()  # while still serving: /readyz 503, new posts 503
                server.should_exit = True
            await serve

    async def _listening(
        self,
        server: _Uvicorn,
        serve: asyncio.Task[None],
        on_listening: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.accepting = True
        log.info(
            "serving %s on %s:%s", self.describe(), self.settings.webhook_listen, self.bound_port
        )
        try:
            if on_listening is not None:
                await on_listening()
        except BaseException:
            self.accepting = False
            server.should_exit = True
            await asyncio.gather(serve, return_exceptions=True)
            raise

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
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
        installed = []
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.request_stop)
                    installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


async def serve_health(
    settings: Settings,
    services: HasStore,
    application: AnyApplication,
    *,
    ready: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Polling mode: serve /healthz, /readyz and /metrics until SIGTERM/SIGINT, then
    return (the caller stops the Application, which it started). /readyz is 200 while
    Redis answers and the Application is running. Raises ConfigError when the port
    cannot be bound.
    """
    server = HealthServer(settings, services.store, application)
    await server.serve_http(ready=ready, handle_signals=handle_signals)


async def count_update(update: object, context: object) -> None:
    """Polling mode's update counter (the webhook counts in its route): register as
    `app.add_handler(TypeHandler(Update, count_update), group=-100)`."""
    if isinstance(update, Update):
        kind = next((n for n in metrics.UPDATE_TYPES if getattr(update, n, None)), "other")
        metrics.UPDATES.labels(type=kind).inc()
