"""The terminal's message grouping: a pasted article is one message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.chat.console import group_messages


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line + "\n"


async def _collect(it: AsyncIterator[str]) -> list[str]:
    return [m async for m in it]


async def test_text_lines_join_until_a_dot_line_or_a_command() -> None:
    lines = ("/help", "عنوان الخبر", "", "الفقرة الأولى.", ".", "متى؟", "#1", "/length", "a", "b")
    got = await _collect(group_messages(_lines(*lines)))
    assert got == ["/help", "عنوان الخبر\n\nالفقرة الأولى.", "متى؟", "#1", "/length", "a\nb"]


async def test_on_a_terminal_a_pause_ends_the_message() -> None:
    gate = asyncio.Event()

    async def typed() -> AsyncIterator[str]:
        yield "متى بدأ الاتصال؟\n"
        await gate.wait()  # the user has not typed anything else
        yield "/help\n"

    messages = group_messages(typed(), idle=0.05)
    assert await asyncio.wait_for(anext(messages), 5) == "متى بدأ الاتصال؟"
    gate.set()
    assert await asyncio.wait_for(anext(messages), 5) == "/help"
    await messages.aclose()
