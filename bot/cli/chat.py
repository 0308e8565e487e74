"""`python -m bot chat`: the console conversation (bot/chat/console.py) on this terminal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator

from bot.app import NoSender, build_services
from bot.chat.console import PASTE_IDLE_SECONDS, group_messages, run_session
from bot.chat.terminal import LiveTerminal
from bot.config import Settings
from bot.i18n import lang_from_code, t


async def _stdin_lines() -> AsyncIterator[str]:
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        yield line


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """`python -m bot chat [--user-id N] [--lang ar|en]`: chat until end of input."""
    if "LOG_LEVEL" not in os.environ:  # keep log lines from mixing with the replies
        logging.getLogger().setLevel(logging.ERROR)
    services = await build_services(settings, sender=NoSender())  # never broadcasts
    interactive = sys.stdin.isatty()
    if interactive:
        print(t(lang_from_code(args.lang), "chat.console_banner"))

    def write(text: str) -> None:
        sys.stdout.write(text + ("\n" if interactive else ""))
        sys.stdout.flush()

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        await run_session(
            services,
            group_messages(_stdin_lines(), idle=PASTE_IDLE_SECONDS if interactive else None),
            write,
            user_id=args.user_id,
            lang=args.lang,
            progress_write=progress,
            terminal=LiveTerminal(sys.stdout),
        )
    finally:
        await services.close()
    return 0
