"""Logs of a full polling run: each line written while handling an update carries its
update id and user id, and no secret (bot token, OpenAI key, webhook secret) appears."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.logs import setup_logging
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import running_bot

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"
HOOK = "webhook-secret-for-the-log-test"


@contextmanager
def json_logs(settings: Settings) -> Iterator[io.StringIO]:
    """The app's own logging set-up (JSON, DEBUG) writing into a buffer; restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging(settings)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buf = io.StringIO()
    handler.setStream(buf)
    try:
        yield buf
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


async def test_full_run_logs_carry_ids_and_no_secret(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    cfg = settings.model_copy(
        update={
            "telegram_bot_token": botapi.token,
            "webhook_secret": HOOK,
            "log_format": "json",
            "log_level": "DEBUG",
        }
    )
    secrets = [botapi.token, cfg.openai_api_key, HOOK]
    assert all(len(s) >= 6 for s in secrets)
    link = pages.add("/logged", REAL.read_bytes())
    with json_logs(cfg) as buf:
        async with running_bot(cfg, store, botapi, fake_llm, webhook_secret=HOOK) as bot:
            digest = botapi.message(71, link, user_id=7101, language_code="ar")
            await bot.reply(71, contains="•")
            # The Bot API fails this update's first send with an error whose text
            # holds the token (as a URL in an exception message would).
            botapi.fail(
                72, 500, description=f"Internal Server Error at /bot{botapi.token}/sendMessage"
            )
            failing = botapi.message(72, "/help", user_id=7202, language_code="en")
            await bot.reply(72)  # the apology the error handler sends
    out = buf.getvalue()
    records = lines(buf)

    def about(update: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in records if r["update_id"] == update["update_id"]]

    mine = about(digest)
    assert mine, "no log line carries the digest's update id"
    assert all(r["user_id"] == 7101 for r in mine)
    errors = [r for r in about(failing) if r["level"] == "ERROR"]
    assert errors and all(r["user_id"] == 7202 for r in errors)
    assert "Internal Server Error" in errors[0].get("exc", "")
    assert "***" in out  # the token in the exception's text was redacted
    for secret in secrets:
        assert secret not in out
    assert botapi.token.split(":")[1] not in out  # not even the token's secret half
