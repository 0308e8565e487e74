"""Command-line entry point (`digestbot ...` and `python -m bot ...`).

Parses arguments, loads settings, and hands off to the command's module. Every
`DigestBotError` becomes one line on stderr and its exit code (2 for bad input or
configuration); nothing else prints a traceback unless LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from bot.errors import DigestBotError
from bot.i18n import error_text

if TYPE_CHECKING:
    from bot.briefings import Sender
    from bot.config import Settings

# command name -> "module:function"; each function is `async def f(args, settings) -> int`
COMMANDS: dict[str, str] = {
    "summarize": "bot.summarize_cli:run",
    "run": "bot.telegram.runner:run",
    "chat": "bot.chat.console:run",
    "feeds.poll": "bot.briefing_cli:feeds_poll",
    "briefing.run-due": "bot.cli:run_due",
    "briefing.preview": "bot.briefing_cli:preview",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digestbot", description="Arabic/English news digests.")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("summarize", help="summarize a URL, a file, or - for stdin")
    s.add_argument("source", help="http(s) URL, file path, or - for stdin")
    s.add_argument("--lang", choices=["ar", "en"], default=None, help="digest language")
    s.add_argument("--length", choices=["short", "detailed"], default="short")
    s.add_argument("--format", choices=["text", "json", "html"], default="text")

    sub.add_parser("run", help="run the Telegram bot (polling, or webhook if WEBHOOK_URL is set)")

    c = sub.add_parser("chat", help="talk to the bot in this terminal")
    c.add_argument("--user-id", type=int, default=1)
    c.add_argument("--lang", choices=["ar", "en"], default=None)

    f = sub.add_parser("feeds", help="news sources")
    fsub = f.add_subparsers(dest="action", required=True)
    fsub.add_parser("poll", help="fetch every source once and ingest new articles")

    b = sub.add_parser("briefing", help="daily briefings")
    bsub = b.add_subparsers(dest="action", required=True)
    rd = bsub.add_parser("run-due", help="send every briefing due at an instant")
    rd.add_argument("--now", default=None, help="ISO-8601 instant (default: now)")
    pv = bsub.add_parser("preview", help="print the briefing a user would get now")
    pv.add_argument("--user-id", type=int, default=1)
    pv.add_argument("--lang", choices=["ar", "en"], default=None)
    return parser


def _resolve(name: str) -> Callable[[argparse.Namespace, Any], Coroutine[Any, Any, int]]:
    module_name, func = COMMANDS[name].split(":")
    return cast(
        Callable[[argparse.Namespace, Any], Coroutine[Any, Any, int]],
        getattr(importlib.import_module(module_name), func),
    )


async def run_due(args: argparse.Namespace, settings: Settings) -> int:
    """`briefing run-due`: deliver through a Telegram sender of its own."""
    from bot.briefing_cli import run_due as deliver_due

    return await deliver_due(args, settings, open_sender=telegram_sender)


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = args.command + (f".{args.action}" if getattr(args, "action", None) else "")
    lang = getattr(args, "lang", None) or "en"
    try:
        from bot.config import load_settings
        from bot.logs import setup_logging

        settings = load_settings()
        setup_logging(settings)
        return asyncio.run(_resolve(name)(args, settings))
    except DigestBotError as err:
        print(f"error: {_message(err, lang)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last line of defence: one line, details only in debug logs
        logging.getLogger("bot").debug("unhandled error", exc_info=True)
        print(
            f"error: internal error ({type(exc).__name__}); run with LOG_LEVEL=DEBUG for details",
            file=sys.stderr,
        )
        return 1


def _message(err: DigestBotError, lang: str) -> str:
    from bot.errors import ConfigError, StoreUnavailable

    if isinstance(err, ConfigError | StoreUnavailable):  # operator-facing: say which setting
        return err.detail
    return error_text(lang, err)
