"""`python -m bot run`: the Telegram bot and the briefing scheduler (feed polling, daily
briefings), until SIGTERM or SIGINT.

Both modes share one lifecycle, python-telegram-bot's own (bot/telegram/lifecycle.py):
the Application owns the services (its `post_init` starts the briefing scheduler,
`post_stop` stops it, `post_shutdown` closes the services). Without WEBHOOK_URL it
long-polls through PTB's updater and serves /healthz, /readyz and /metrics on
WEBHOOK_PORT (bot/telegram/health.py); with it, `serve_webhook` (bot/telegram/webhook.py)
serves the updates and those endpoints.
"""

from __future__ import annotations

import argparse
import logging

from telegram import Update
from telegram.ext import TypeHandler

from bot.config import Settings
from bot.services import Services
from bot.telegram.application import build_application, open_services
from bot.telegram.health import count_update, serve_health
from bot.telegram.lifecycle import AnyApplication, running
from bot.telegram.webhook import ALLOWED_UPDATES, serve_webhook

log = logging.getLogger(__name__)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot until SIGINT/SIGTERM; return the exit code."""
    settings.require_token()
    if settings.webhook_url:
        settings.require_webhook()
    app = build_application(settings, owns_services=True)
    services = await open_services(app, settings)
    if settings.webhook_url:
        await serve_webhook(settings, services, app)
    else:
        await _poll(settings, services, app)
    return 0


async def _poll(settings: Settings, services: Services, app: AnyApplication) -> None:
    """Long polling until SIGTERM/SIGINT, with the health endpoints beside it."""
    app.add_handler(TypeHandler(Update, count_update), group=-100)  # /metrics: updates by type
    async with running(app):
        assert app.updater is not None
        await app.updater.start_polling(
            allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False
        )
        log.info("bot @%s is polling", app.bot.username)
        await serve_health(settings, services, app)  # returns on SIGTERM/SIGINT
        log.info("stopping")
