"""Building the python-telegram-bot Application around the Conversation.

`build_application(settings, services=None)` wires: the Bot API base URL (TELEGRAM_BASE_URL)
over the aiohttp transport (bot/telegram/transport.py), the rate limiter
(bot/telegram/ratelimit.py: RetryAfter honoured with retries, per-group pacing waited
for without holding an update slot), the update processor that bounds concurrent
updates in both modes (bot/telegram/lifecycle.py), the one update handler, the global
error handler, and the lifecycle hooks: `post_init` publishes the command menu in
Arabic and English; when the Application owns the services (`python -m bot run`),
`post_init` also starts the briefing scheduler, `post_stop` stops it and
`post_shutdown` closes the services. `lifecycle.running(app)` runs those hooks.
`open_services(app, settings)` builds the services (bot.app, the composition root)
with briefings sent through the Application's own bot, and attaches them.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.app import build_conversation, build_services
from bot.briefings import start_scheduler
from bot.chat.router import Conversation
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import LANGS, t
from bot.services import Services
from bot.store.redis import Store
from bot.telegram.chats import TelegramMembers
from bot.telegram.context import BotData
from bot.telegram.handlers import on_error, on_update
from bot.telegram.lifecycle import UpdateProcessor
from bot.telegram.ratelimit import ChatPaceLimiter
from bot.telegram.sender import TelegramSender
from bot.telegram.transport import AiohttpRequest

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 32  # polling: updates in flight; also the Bot API connection pool size
RETRY_AFTER_RETRIES = 3


def rate_limiter(group_per_minute: int = 20) -> ChatPaceLimiter:
    """Telegram pacing: `group_per_minute` messages a minute per group or channel
    (GROUP_MESSAGES_PER_MINUTE), and RetryAfter retried; both waited for with the
    update's slot given back.

    The global 30 messages/s limit is Telegram's broadcast limit; replies to users who
    just wrote to us are not throttled here (a 429 is still honoured and retried), and
    briefings pace themselves with the Redis limiter (BROADCAST_RATE).
    """
    return ChatPaceLimiter(group_per_minute=group_per_minute, max_retries=RETRY_AFTER_RETRIES)


def build_application(
    settings: Settings, services: Services | None = None, *, owns_services: bool = False
) -> Application:  # type: ignore[type-arg]
    """Return a ready-to-run Application (see `lifecycle.running`), with `services`
    attached when given (else call `open_services` once the Application exists). With
    `owns_services` (`python -m bot run`) its lifecycle hooks also run the briefing
    scheduler and close `services` at shutdown. Updates run at most
    WEBHOOK_MAX_CONCURRENCY at once in webhook mode, CONCURRENT_UPDATES when polling."""
    settings.require_token()
    base = settings.telegram_base_url.rstrip("/")
    concurrency = settings.webhook_max_concurrency if settings.webhook_url else CONCURRENT_UPDATES
    app = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .request(AiohttpRequest(pool_size=CONCURRENT_UPDATES, pool_timeout=10))
        .get_updates_request(AiohttpRequest(pool_size=1))
        .rate_limiter(rate_limiter(settings.group_messages_per_minute))
        .concurrent_updates(UpdateProcessor(concurrency))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .context_types(ContextTypes(bot_data=BotData))
        .build()
    )
    app.bot_data.owns_services = owns_services
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
    Application's own bot, and attach them to `app`."""
    services = await build_services(
        settings, sender=TelegramSender(app.bot), store=store, clock=clock
    )
    attach(app, services)
    return services


def attach(app: Application, services: Services) -> None:  # type: ignore[type-arg]
    """Make `services` and their conversation what the handlers use (PTB's bot_data)."""
    data: BotData = app.bot_data
    data.services = services
    data.conversation = build_conversation(services)
    data.conversation.members = TelegramMembers(app.bot)


async def post_init(app: Application) -> None:  # type: ignore[type-arg]
    """Publish the command menu in Arabic and English (and the default, English);
    start the briefing scheduler when the application owns the services."""
    data: BotData = app.bot_data
    try:
        await publish_commands(app, data.conv)
    except TelegramError as exc:  # a menu is not worth refusing to start
        log.warning("setMyCommands failed: %s", exc)
    if data.owns_services and data.services is not None:
        # first run a minute after start
        data.scheduler = start_scheduler(data.services.briefings)
        # warm the reader workers in the background: the first upload waits for none
        data.readers_warm = asyncio.create_task(data.services.readers.start())


async def post_stop(app: Application) -> None:  # type: ignore[type-arg]
    """Stop the briefing scheduler, if post_init started it."""
    data: BotData = app.bot_data
    if data.scheduler is not None:
        data.scheduler.shutdown(wait=False)
        data.scheduler = None


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
    data: BotData = app.bot_data
    if data.owns_services and data.services is not None:
        await data.services.close()
