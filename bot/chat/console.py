"""`python -m bot chat`: the same conversation as on Telegram, in a terminal.

Each line you type is a message ("/command args", a link, an article, a question).
Replies print as plain text; buttons print numbered, and typing `#N` presses button N
of the last reply that had buttons. Progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bot.app import Services, build_services
from bot.chat.router import Conversation
from bot.chat.types import Button, Incoming, Reply
from bot.config import Settings
from bot.render import html_to_plain, strip_marks

Write = Callable[[str], None]


def plain(html: str) -> str:
    """What a terminal shows for a reply: no tags, no entities, no direction marks."""
    return strip_marks(html_to_plain(html)).strip()


@dataclass
class ConsoleOutbox:
    """Prints replies; remembers the last buttons so `#N` can press them."""

    write: Write
    progress_write: Write
    buttons: list[Button] = field(default_factory=list)
    buttons_message: int | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def typing(self) -> None:
        return None

    async def progress(self, text: str) -> None:
        self.progress_write(text)

    async def send(self, reply: Reply) -> list[int]:
        mid = next(self._ids)
        lines = [plain(reply.html)]
        flat = [b for row in reply.buttons for b in row]
        if flat:
            self.buttons, self.buttons_message = flat, mid
            for i, b in enumerate(flat, 1):
                lines.append(f"  [#{i}] {b.text}" + (f" → {b.url}" if b.url else ""))
        self.write("\n".join(lines) + "\n")
        return [mid]


def parse_line(line: str, user_id: int, lang: str | None, out: ConsoleOutbox) -> Incoming | None:
    """Turn a typed line into an Incoming (None for a blank line or a bad `#N`)."""
    line = line.strip()
    if not line:
        return None
    msg = Incoming(user_id=user_id, chat_id=user_id, text=line, language_code=lang)
    if line.startswith("#") and line[1:].isdigit():
        index = int(line[1:]) - 1
        if not 0 <= index < len(out.buttons) or out.buttons[index].callback is None:
            return None
        msg.text = ""
        msg.callback = out.buttons[index].callback
        msg.callback_message_id = out.buttons_message
        return msg
    if line.startswith("/"):
        head, _, rest = line[1:].partition(" ")
        msg.command = head.split("@", 1)[0].lower()
        msg.args = rest.strip()
    return msg


async def run_session(
    services: Services,
    lines: AsyncIterator[str],
    write: Write,
    *,
    user_id: int = 1,
    lang: str | None = None,
    progress_write: Write | None = None,
) -> None:
    """Answer each line from `lines` with the Conversation, printing through `write`."""
    conv = Conversation(services)
    out = ConsoleOutbox(write=write, progress_write=progress_write or (lambda _: None))
    async for line in lines:
        msg = parse_line(line, user_id, lang, out)
        if msg is None:
            continue
        try:
            await conv.handle(msg, out)
        except Exception:  # same promise as on Telegram: a failing turn never ends the chat
            import logging

            logging.getLogger(__name__).exception("console turn failed")
            write(await conv.internal_error_text(msg) + "\n")


async def _stdin_lines() -> AsyncIterator[str]:
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        yield line


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """`python -m bot chat [--user-id N] [--lang ar|en]`: chat until end of input."""
    services = await build_services(settings)
    interactive = sys.stdin.isatty()
    if interactive:
        print("digestbot console: type /help, a link, or an article; #N presses a button.")

    def write(text: str) -> None:
        sys.stdout.write(text + ("\n" if interactive else ""))
        sys.stdout.flush()

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        await run_session(
            services,
            _stdin_lines(),
            write,
            user_id=args.user_id,
            lang=args.lang,
            progress_write=progress,
        )
    finally:
        await services.close()
    return 0
