"""Every entry point: `digestbot ...` and `python -m bot ...`.

One argparse parser; each sub-command names its function with `set_defaults(func=...)`.
The functions import their module when called, so `--help` and a bad argument stay
fast. Each module of this package is one command family:

* `summarize.py`: `summarize SOURCE` (a URL, a file, `-` or the text itself);
* `chat.py`: `chat`, the conversation in this terminal;
* `run.py`: `run`, the Telegram bot (polling, or webhook when WEBHOOK_URL is set);
* `briefing.py`: `feeds poll`, `briefing run-due`, `briefing preview`.

Settings are loaded once here. Every `DigestBotError` becomes one line on stderr and its
exit code (2 for bad input or configuration); nothing else prints a traceback unless
LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from bot.errors import DigestBotError
from bot.i18n import error_text

if TYPE_CHECKING:
    from bot.config import Settings

Command = Callable[[argparse.Namespace, "Settings"], Coroutine[Any, Any, int]]


async def summarize(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.summarize import run

    return await run(args, settings)


async def chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.chat import run

    return await run(args, settings)


async def run_bot(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.run import run

    return await run(args, settings)


async def feeds_poll(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.briefing import feeds_poll

    return await feeds_poll(args, settings)


async def briefing_run_due(args: argparse.Namespace, settings: Settings) -> int:
    """Deliver through a Telegram sender of its own."""
    from bot.cli.briefing import run_due, telegram_sender

    return await run_due(args, settings, open_sender=telegram_sender)


async def briefing_preview(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.briefing import preview

    return await preview(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digestbot", description="Arabic/English news digests.")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("summarize", help="summarize a URL, a file, or - for stdin")
    s.add_argument("source", help="http(s) URL, file path, or - for stdin")
    s.add_argument("--lang", choices=["ar", "en"], default=None, help="digest language")
    s.add_argument("--length", choices=["short", "detailed"], default="short")
    s.add_argument("--format", choices=["text", "json", "html"], default="text")
    s.set_defaults(func=summarize)

    r = sub.add_parser(
        "run", help="run the Telegram bot (polling, or webhook if WEBHOOK_URL is set)"
    )
    r.set_defaults(func=run_bot)

    c = sub.add_parser("chat", help="talk to the bot in this terminal")
    c.add_argument("--user-id", type=int, default=1)
    c.add_argument("--lang", choices=["ar", "en"], default=None)
    c.set_defaults(func=chat)

    f = sub.add_parser("feeds", help="news sources")
    fsub = f.add_subparsers(dest="action", required=True)
    fsub.add_parser("poll", help="fetch every source once and ingest new articles").set_defaults(
        func=feeds_poll
    )

    b = sub.add_parser("briefing", help="daily briefings")
    bsub = b.add_subparsers(dest="action", required=True)
    rd = bsub.add_parser("run-due", help="send every briefing due at an instant")
    rd.add_argument("--now", default=None, help="ISO-8601 instant (default: now)")
    rd.set_defaults(func=briefing_run_due)
    pv = bsub.add_parser("preview", help="print the briefing a user would get now")
    pv.add_argument("--user-id", type=int, default=1)
    pv.add_argument("--lang", choices=["ar", "en"], default=None)
    pv.set_defaults(func=briefing_preview)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Command = args.func
    lang = getattr(args, "lang", None) or "en"
    try:
        from bot.config import load_settings
        from bot.logs import setup_logging

        settings = load_settings()
        setup_logging(settings)
        return asyncio.run(command(args, settings))
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
