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
from typing import Literal

from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, TypeHandler
from telegram.request import BaseRequest, HTTPXRequest

from bot.app import build_conversation, build_services
from bot.chat.router import Conversation
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import LANGS, t
from bot.services import Services
from bot.store.redis import Store
from bot.telegram.handlers import on_error, on_update
from bot.telegram.request import AiohttpRequest
from bot.telegram.sender import TelegramSender

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 32  # updates in flight; also the Bot API connection pool size
RETRY_AFTER_RETRIES = 3
Transport = Literal["aiohttp", "httpx"]


def rate_limiter() -> AIORateLimiter:
    """Telegram pacing: 20 messages a minute per group, and RetryAfter retried.

    The global 30 messages/s limit is Telegram's broadcast limit; replies to users who
    just wrote to us are not throttled here (a 429 is still honoured and retried), and
    briefings pace themselves with the Redis limiter (BROADCAST_RATE).
    """
    return AIORateLimiter(overall_max_rate=0, max_retries=RETRY_AFTER_RETRIES)


def build_application(
    settings: Settings, services: Services | None = None, *, transport: Transport = "aiohttp"
) -> Application:  # type: ignore[type-arg]
    """Return a ready-to-start Application, with `services` attached when given (else
    call `open_services` once the Application exists). It does not own the services
    unless `close_services` is set in bot_data (the runner sets it). `transport`
    "httpx" is PTB's default HTTP client (kept for side-by-side benchmarks)."""
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
    app.add_handler(TypeHandler(Update, on_update))
    app.add_error_handler(on_error)
    if services is not None:
        attach(app, services)
    return app


async def open_services(
    app: Application,  # type: ignore[type-arg]
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
) -> Services:
    """Build the services (bot.app.build_services) with briefings sent through the
    Application's own bot, and attach them to `app`; the caller closes them."""
    services = await build_services(
        settings, sender=TelegramSender(app.bot), store=store, clock=clock
    )
    attach(app, services)
    return services


def attach(app: Application, services: Services) -> None:  # type: ignore[type-arg]
    """Make `services` and their conversation what the handlers use (PTB's bot_data)."""
    app.bot_data["services"] = services
    app.bot_data["conversation"] = build_conversation(services)


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
