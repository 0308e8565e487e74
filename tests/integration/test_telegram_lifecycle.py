"""The one Telegram lifecycle (bot.telegram.lifecycle.running): PTB's hooks run in
PTB's order, and shutdown waits for the updates in flight, within a bound."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.telegram.lifecycle import UpdateProcessor, running
from tests.fakes.botapi import BotAPI

AnyApp = Application[Any, Any, Any, Any, Any, Any]


def build(botapi: BotAPI, events: list[str], handler: Any) -> AnyApp:
    async def hook(name: str, app: AnyApp) -> None:
        events.append(f"{name} running={app.running}")

    async def post_init(app: AnyApp) -> None:
        await hook("post_init", app)

    async def post_stop(app: AnyApp) -> None:
        await hook("post_stop", app)

    async def post_shutdown(app: AnyApp) -> None:
        await hook("post_shutdown", app)

    app = (
        Application.builder()
        .token(botapi.token)
        .base_url(botapi.base_url)
        .updater(None)
        .concurrent_updates(UpdateProcessor(4))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    app.add_handler(CommandHandler("summarize", handler))
    return app


async def test_hooks_run_in_ptb_order_and_shutdown_finishes_the_update(botapi: BotAPI) -> None:
    events: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def summarize(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        started.set()
        await release.wait()
        assert update.effective_message is not None
        await update.effective_message.reply_text("digest")

    app = build(botapi, events, summarize)
    async with running(app):
        events.append(f"serving running={app.running}")
        update = {**botapi.command(700, "/summarize x", queue=False), "update_id": 70_000}
        await app.update_queue.put(Update.de_json(update, app.bot))
        await started.wait()
        asyncio.get_running_loop().call_soon(release.set)  # released while shutting down
    assert events == [
        "post_init running=False",
        "serving running=True",
        "post_stop running=False",
        "post_shutdown running=False",
    ]
    assert [m.plain for m in botapi.sent_to(700)] == ["digest"]


async def test_shutdown_cancels_an_update_stuck_past_the_drain_bound(botapi: BotAPI) -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def stuck(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes

    app = build(botapi, events, stuck)
    processor = app.update_processor
    async with running(app, drain_seconds=0.2):
        update = {**botapi.command(701, "/summarize x", queue=False), "update_id": 70_001}
        await app.update_queue.put(Update.de_json(update, app.bot))
        await started.wait()
    assert processor.current_concurrent_updates == 0
    assert events[-2:] == ["post_stop running=False", "post_shutdown running=False"]
    assert botapi.sent_to(701) == []
