"""`python -m bot chat`: the same conversation as on Telegram, in a terminal.

A message is a command line ("/command args"), `#N` (presses button N of the last
reply that had buttons), or text: a link, a question, or a pasted article. Text lines
that follow each other, blank lines included, form one message, which ends at a line
holding only ".", at a command, at the end of input, or (on a terminal) when nothing
more arrives for a moment. So a pasted article is one message, and a script piped in
separates its messages with "." lines. Replies print as plain text; progress goes to
stderr.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bot.app import build_conversation
from bot.chat.terminal import LiveTerminal
from bot.messages import Button, Incoming, Reply
from bot.render import html_to_plain, strip_marks
from bot.services import Services

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
    terminal: LiveTerminal | None = None  # draws replies as they are written (a TTY)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def typing(self) -> None:
        return None

    async def progress(self, text: str) -> None:
        self.progress_write(text)

    async def toast(self, text: str) -> None:
        self.write(f"({text})\n")

    async def live(self, html: str, *, reply_to: int | None = None) -> None:
        if self.terminal is not None:
            self.terminal.show(plain(html))

    async def send(self, reply: Reply) -> list[int]:
        if self.terminal is not None:
            self.terminal.clear()
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
    terminal: LiveTerminal | None = None,
) -> None:
    """Answer each line from `lines` with the Conversation, printing through `write`
    (and drawing replies as they are written on `terminal`, when given)."""
    conv = build_conversation(services)
    out = ConsoleOutbox(
        write=write, progress_write=progress_write or (lambda _: None), terminal=terminal
    )
    async for line in lines:
        msg = parse_line(line, user_id, lang, out)
        if msg is None:
            continue
        try:
            await conv.handle(msg, out)
        except Exception:  # same promise as on Telegram: a failing turn never ends the chat
            logging.getLogger(__name__).exception("console turn failed")
            write(await conv.internal_error_text(msg) + "\n")


END = "."  # a line holding only this ends a text message
PASTE_IDLE_SECONDS = 0.3  # a paste arrives at once; a typed line is followed by a pause


def _stands_alone(line: str) -> bool:
    text = line.strip()
    return text.startswith("/") or (text.startswith("#") and text[1:].isdigit())


async def group_messages(
    lines: AsyncIterator[str], *, idle: float | None = None
) -> AsyncIterator[str]:
    """Join consecutive text lines into one message (see the module docstring).

    With `idle` set (a terminal), buffered text is also sent when no line arrives for
    `idle` seconds. Commands and `#N` are always messages of their own.
    """
    buffer: list[str] = []
    iterator = aiter(lines)
    pending: asyncio.Task[str] | None = None
    while True:
        if pending is None:
            pending = asyncio.ensure_future(anext(iterator))
        timeout = idle if buffer and idle is not None else None
        done, _ = await asyncio.wait({pending}, timeout=timeout)
        if not done:  # a pause after text: the message is complete
            text = "\n".join(buffer).strip()
            if text:
                yield text
            buffer = []
            continue
        task, pending = pending, None
        try:
            line = task.result().rstrip("\n")
        except StopAsyncIteration:
            text = "\n".join(buffer).strip()
            if text:
                yield text
            return
        if _stands_alone(line) or line.strip() == END:
            text = "\n".join(buffer).strip()
            if text:
                yield text
            buffer = []
            if line.strip() != END:
                yield line
            continue
        buffer.append(line)
