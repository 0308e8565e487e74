"""The briefing CLI commands: `feeds poll`, `briefing run-due [--now ISO]`, `briefing preview`.

Each builds the services with bot.app.build_services; `run-due` sends through the
Sender that `telegram_sender` below opens (the Telegram one), the others never send.

Each prints one result to stdout; a progress counter goes to stderr only when stderr
is a terminal. Bad input (an unparsable --now) raises BadInput (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime

from bot.app import NoSender, build_services
from bot.briefings import Sender, format_counts
from bot.clock import FrozenClock
from bot.config import Settings
from bot.errors import BadInput


def parse_now(text: str | None) -> datetime:
    """`--now` as an aware UTC datetime (naive means UTC; default: the current time)."""
    if not text:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--now is not an ISO-8601 instant: {text!r}", reason="now_format") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def progress(label: str, total: int | None = None) -> Callable[[int], None] | None:
    """A stderr counter ("label 12/40") when stderr is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        shown = f"{done}/{total}" if total else str(done)
        print(f"\r{label} {shown}", end="", file=sys.stderr, flush=True)

    return step


# Opens the Sender that `run-due` delivers through (the Telegram one, `telegram_sender`)
# and closes it afterwards.
OpenSender = Callable[[Settings], AbstractAsyncContextManager[Sender]]


async def feeds_poll(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch every source once and ingest new articles; print the counts."""
    services = await build_services(settings, sender=NoSender())
    try:
        b = services.briefings
        sources = await b.all_sources()
        b.poller.on_progress = progress("feeds", len(sources))
        report = await b.poller.poll_all(sources)
        if b.poller.on_progress:
            print(file=sys.stderr)
        print(report.line())
        for url, reason in sorted(report.errors.items()):
            print(f"  failed: {url} ({reason})", file=sys.stderr)
        return 0
    finally:
        await services.close()


async def run_due(args: argparse.Namespace, settings: Settings, *, open_sender: OpenSender) -> int:
    """Send every briefing due at --now (default: now) through the sender `open_sender`
    opens; print one line of counts."""
    now = parse_now(getattr(args, "now", None))
    async with open_sender(settings) as sender:
        services = await build_services(settings, sender=sender, clock=FrozenClock(now))
        try:
            store, delivery = services.store, services.briefings.delivery
            due = await store.redis.zcount(store.keys.due(), "-inf", now.timestamp())
            delivery.on_progress = progress("briefings", int(due))
            counts = await delivery.tick(now)
            if delivery.on_progress:
                print(file=sys.stderr)
            print(format_counts(counts))
            return 0
        finally:
            await services.close()


async def preview(args: argparse.Namespace, settings: Settings) -> int:
    """Print the briefing a user would get now (plain text), without sending it."""
    services = await build_services(settings, sender=NoSender())
    try:
        user_id = int(args.user_id)
        sub = await services.briefings.subscription(user_id)
        prefs = await services.users.prefs(user_id)
        lang = args.lang or (sub.lang if sub else None) or (prefs.lang if prefs.lang_set else "ar")
        print(await services.briefings.preview(user_id, str(lang)))
        return 0
    finally:
        await services.close()


@asynccontextmanager
async def telegram_sender(settings: Settings) -> AsyncIterator[Sender]:
    """A started TelegramSender (its own Bot and connection pool), closed on exit."""
    from bot.telegram.sender import TelegramSender

    sender = TelegramSender.from_settings(settings)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()
