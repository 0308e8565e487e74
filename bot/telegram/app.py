"""Building the python-telegram-bot Application around the Conversation.

`build_application(settings, services)` wires: the Bot API base URL (TELEGRAM_BASE_URL),
AIORateLimiter (RetryAfter honoured with retries; per-group pacing), concurrent update
processing, the one update handler, the global error handler, and post_init /
post_shutdown (setMyCommands in Arabic and English; closing the services). PTB calls
those two only inside run_polling/run_webhook: code that drives the lifecycle itself
(the runner, the webhook server, tests) calls them explicitly.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import aiohttp
from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeDefault, Update
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application, TypeHandler
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.app import Services
from bot.chat.router import Conversation
from bot.config import Settings
from bot.i18n import LANGS, t
from bot.telegram.handlers import on_error, on_update

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 32  # updates in flight; also the Bot API connection pool size
RETRY_AFTER_RETRIES = 3
Transport = Literal["aiohttp", "httpx"]
_Default = type(BaseRequest.DEFAULT_NONE)  # "argument not given" (PTB's DefaultValue)


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's HTTP transport on aiohttp, with HTTPXRequest's contract:
    form-encoded parameters, multipart uploads, TimedOut for timeouts (connecting,
    waiting for a pooled connection, reading) and NetworkError for other connection
    failures. It spends a fraction of httpx's CPU per call (httpcore re-checks every
    pooled connection with syscalls on each request), and the Bot API call was about
    40 % of a cached digest's CPU: see the "telegram bot" section of docs/benchmarks.md.
    """

    def __init__(
        self,
        *,
        pool_size: int,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = pool_size
        self._connect = connect_timeout
        self._read = read_timeout
        self._write = write_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return (HTTP status, body). Raises TimedOut / NetworkError."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        params = request_data.json_parameters if request_data else None
        read = self._read if isinstance(read_timeout, _Default) else read_timeout
        connect = self._connect if isinstance(connect_timeout, _Default) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, _Default) else pool_timeout
        write = write_timeout
        if isinstance(write_timeout, _Default):
            write = self._media_write if files else self._write
        phases = (pool, connect, write, read)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout: bound the whole call by the sum of the phases
            total=None if None in phases else sum(phases),
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        data: Any = params
        if files:
            form = aiohttp.FormData()
            for name, value in (params or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as res:
                return res.status, await res.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err


def rate_limiter() -> AIORateLimiter:
    """Telegram pacing: 20 messages a minute per group, and RetryAfter retried.

    The global 30 messages/s limit is Telegram's broadcast limit; replies to users who
    just wrote to us are not throttled here (a 429 is still honoured and retried), and
    briefings pace themselves with the Redis limiter (BROADCAST_RATE).
    """
    return AIORateLimiter(overall_max_rate=0, max_retries=RETRY_AFTER_RETRIES)


def build_application(
    settings: Settings, services: Services, *, transport: Transport = "aiohttp"
) -> Application:  # type: ignore[type-arg]
    """Return a ready-to-start Application; it does not own `services` unless
    `close_services` is set in bot_data (the runner sets it). `transport` "httpx" is
    PTB's default HTTP client (kept for side-by-side benchmarks)."""
    settings.require_token()
    base = settings.telegram_base_url.rstrip("/")
    if transport == "aiohttp":
        request: BaseRequest = AiohttpRequest(pool_size=CONCURRENT_UPDATES, pool_timeout=10)
        updates: BaseRequest = AiohttpRequest(pool_size=1)
    else:
        request = HTTPXRequest(connection_pool_size=CONCURRENT_UPDATES, pool_timeout=10)
        updates = HTTPXRequest(connection_pool_size=1)
    app = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .request(request)
        .get_updates_request(updates)
        .rate_limiter(rate_limiter())
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    app.bot_data["services"] = services
    app.bot_data["conversation"] = Conversation(services)
    app.add_handler(TypeHandler(Update, on_update))
    app.add_error_handler(on_error)
    return app


async def post_init(app: Application) -> None:  # type: ignore[type-arg]
    """Publish the command menu in Arabic and English (and the default, English)."""
    conv: Conversation = app.bot_data["conversation"]
    try:
        await publish_commands(app, conv)
    except TelegramError as exc:  # a menu is not worth refusing to start
        log.warning("setMyCommands failed: %s", exc)


async def publish_commands(app: Application, conv: Conversation) -> None:  # type: ignore[type-arg]
    commands = conv.published_commands()
    for lang in LANGS:
        menu = [BotCommand(c.name, t(lang, c.description or "")) for c in commands]
        await app.bot.set_my_commands(menu, scope=BotCommandScopeDefault(), language_code=lang)
        await app.bot.set_my_commands(
            menu, scope=BotCommandScopeAllPrivateChats(), language_code=lang
        )
    default = [BotCommand(c.name, t("en", c.description or "")) for c in commands]
    await app.bot.set_my_commands(default, scope=BotCommandScopeDefault())


async def post_shutdown(app: Application) -> None:  # type: ignore[type-arg]
    """Close the services when the application owns them."""
    if app.bot_data.get("close_services"):
        services: Services = app.bot_data["services"]
        await services.close()
