"""`python -m bot run`: the Telegram bot with long polling (plus /healthz, /readyz and
/metrics on WEBHOOK_PORT) and the briefing scheduler (feed polling, daily briefings),
until SIGTERM or SIGINT.

With WEBHOOK_URL set, `run` hands over to `serve_webhook` (bot/telegram/webhook.py),
which owns the Application's lifecycle there.
"""

from __future__ import annotations

import argparse
import logging

from telegram import Update
from telegram.ext import TypeHandler

from bot.briefings.scheduler import start_scheduler
from bot.config import Settings
from bot.telegram.app import build_application, open_services, post_init, post_shutdown
from bot.telegram.webhook import ALLOWED_UPDATES, count_update, serve_health, serve_webhook

log = logging.getLogger(__name__)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot until SIGINT/SIGTERM; return the exit code."""
    settings.require_token()
    if settings.webhook_url:
        settings.require_webhook()
        return await _webhook(args, settings)
    app = build_application(settings)
    services = await open_services(app, settings)
    app.bot_data["close_services"] = True
    async with app:  # initialize/shutdown; PTB runs post_init/post_shutdown only in run_*()
        await post_init(app)
        await app.start()
        assert app.updater is not None
        app.add_handler(TypeHandler(Update, count_update), group=-100)  # /metrics: updates by type
        await app.updater.start_polling(
            allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False
        )
        log.info("bot @%s is polling", app.bot.username)
        scheduler = start_scheduler(services.briefings)
        try:
            # /healthz, /readyz, /metrics on WEBHOOK_PORT; returns on SIGTERM/SIGINT
            await serve_health(settings, services, app)
        finally:
            log.info("stopping")
            scheduler.shutdown(wait=False)
            await app.updater.stop()
            await app.stop()
            await post_shutdown(app)
    return 0


async def _webhook(args: argparse.Namespace, settings: Settings) -> int:
    """Serve updates over a webhook (bot/telegram/webhook.py) until SIGTERM/SIGINT."""
    app = build_application(settings)
    services = await open_services(app, settings)
    scheduler = None
    try:
        scheduler = start_scheduler(services.briefings)  # first run a minute after start
        await serve_webhook(settings, services, app)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await services.close()
    return 0
