"""`python -m bot chat`: the same conversation in a terminal, as plain text."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from bot.app import NoSender, build_services
from bot.chat.console import run_session
from bot.clock import FrozenClock
from bot.config import Settings
from bot.render import MARKS
from bot.store.redis import Store
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import NOW, model
from tests.integration.test_error_language import latin_outside_links_and_commands

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"
ROOT = Path(__file__).parents[2]


async def lines_of(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def chat(settings: Settings, store: Store, *lines: str, lang: str = "en") -> list[str]:
    services = await build_services(
        settings, sender=NoSender(), store=store, clock=FrozenClock(NOW)
    )
    out: list[str] = []
    try:
        await run_session(services, lines_of(*lines), out.append, user_id=7, lang=lang)
    finally:
        await services.close()
    return out


async def test_console_runs_commands_digests_and_buttons(
    settings: Settings, store: Store, fake_llm: FakeLLM, pages: PageServer
) -> None:
    fake_llm.handler = model
    link = pages.add("/a", REAL.read_bytes())
    out = await chat(settings, store, "/start", link, "#1", "/language ar", "/help", "", "/nope")
    start, digest, arabic, lang, help_, unknown = out
    assert start.startswith("Hello! I turn news articles")
    # an English user gets an English digest, with a button for the Arabic one
    assert "The article reports its point number" in digest
    assert "[#1] العربية · Arabic" in digest and f"→ {link}" in digest
    assert not any(m in digest for m in MARKS)
    assert "• " in arabic and "دمشق" in arabic and "[#1] English" in arabic
    assert "بالعربية" in lang and "ما يمكنني فعله" in help_
    assert "/help" in unknown


async def test_console_errors_are_translated(
    settings: Settings, store: Store, pages: PageServer
) -> None:
    out = await chat(settings, store, pages.url("/missing"), "#9", "short words", lang="ar")
    assert out[0].startswith("تعذّر جلب الرابط")
    # "#9" pressed nothing; a short text with no article yet gets a hint how to start
    assert len(out) == 2 and "أرسل رابطًا أو الصق مقالًا" in out[1]
    # no English inside the Arabic errors (the status code stays a number)
    out = await chat(
        settings,
        store,
        pages.url("/missing"),
        "ftp://example.com/f",
        "/summarize http://",
        lang="ar",
    )
    assert len(out) == 3 and "404" in out[0]
    for line in out:
        assert latin_outside_links_and_commands(line) == [], line


async def chat_process(
    settings: Settings, store: Store, stdin: bytes, *, log_level: str | None
) -> tuple[int | None, str, str]:
    """Run `python -m bot chat --lang ar` on the test Redis, offline; return code, out, err."""
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url or "",
        "REDIS_PREFIX": store.keys.prefix,
        "OPENAI_API_KEY": "",
    }
    env.pop("LOG_LEVEL", None)
    if log_level is not None:
        env["LOG_LEVEL"] = log_level
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "chat",
        "--lang",
        "ar",
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(stdin), 90)
    return proc.returncode, stdout.decode(), stderr.decode()


async def test_python_m_bot_chat_subprocess(settings: Settings, store: Store) -> None:
    code, text, err = await chat_process(settings, store, b"/help\n/length\n", log_level="WARNING")
    assert code == 0, err
    assert "ما يمكنني فعله" in text and "[#2] مفصّل" in text


async def test_pasted_article_in_the_terminal_is_one_message(
    settings: Settings, store: Store
) -> None:
    """Piping the sample article (many lines) gives one digest, not one reply per line,
    and no log lines mix with the replies."""
    sample = (ROOT / "bot" / "samples" / "sample-article-ar.txt").read_text("utf-8")
    question = "\n.\nمتى بدأ الاتصال الهاتفي؟\n"
    code, text, err = await chat_process(
        settings, store, (sample + question).encode(), log_level=None
    )
    assert code == 0, err
    assert text.count("ملخص دون اتصال") == 1  # one offline digest for the whole paste
    assert "أرسل رابطًا أو الصق مقالًا" not in text  # no line was taken for a question
    assert "بدأ الساعة" in text  # the question was answered from the article's passages
    assert "INFO" not in err and "Traceback" not in err


async def test_console_draws_the_digest_as_it_is_written_on_a_terminal(
    settings: Settings, store: Store, fake_llm: FakeLLM, seed_text: str
) -> None:
    import io

    from bot.chat.terminal import LiveTerminal

    fake_llm.handler = model
    fake_llm.stream_rate = 3000  # real pacing: the reply arrives in pieces
    screen = io.StringIO()
    services = await build_services(
        settings, sender=NoSender(), store=store, clock=FrozenClock(NOW)
    )
    out: list[str] = []
    try:
        await run_session(
            services,
            lines_of(seed_text),
            out.append,
            user_id=8,
            lang="ar",
            terminal=LiveTerminal(screen, enabled=True),
        )
    finally:
        await services.close()
    drawn = screen.getvalue()
    assert drawn.count("\x1b[J") >= 2  # drawn, redrawn as it grew, then cleared
    first = drawn.split("\x1b[")[0]
    assert first.startswith(seed_text.split("\n")[0][:20])  # the headline came first
    assert drawn.endswith("\x1b[J")  # cleared before the checked digest was printed
    assert len(out) == 1 and out[0].count("• ") >= 3 and "\x1b" not in out[0]
