"""Logs: secrets never written (not even inside exception text), ids on every line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from bot.config import Settings
from bot.logs import setup_logging, update_id_var, user_id_var

TOKEN = "123456:AAE-secret-bot-token-value"
KEY = "sk-live-very-secret-key"
HOOK = "webhook-secret-value-xyz"


@pytest.fixture
def capture(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        openai_api_key=KEY,
        webhook_secret=HOOK,
        log_format=request.param,
    )
    setup_logging(settings)
    buf = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buf)
    try:
        yield buf
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.mark.parametrize("capture", ["text", "json"], indirect=True)
def test_secrets_are_redacted_everywhere_in_a_line(capture: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    log.warning("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"connect failed for /bot{TOKEN}/sendMessage key={KEY} {HOOK}")
    except RuntimeError:
        log.exception("send failed")
    out = capture.getvalue()
    assert "send failed" in out and "RuntimeError" in out and "***" in out
    for secret in (TOKEN, KEY, HOOK, "AAE-secret"):
        assert secret not in out


@pytest.mark.parametrize("capture", ["json"], indirect=True)
def test_json_lines_carry_update_and_user_ids(capture: io.StringIO) -> None:
    t1, t2 = update_id_var.set(9001), user_id_var.set(77)
    try:
        logging.getLogger("bot.test").info("handled")
    finally:
        update_id_var.reset(t1)
        user_id_var.reset(t2)
    line = json.loads(capture.getvalue().strip().splitlines()[-1])
    assert line["msg"] == "handled" and line["update_id"] == 9001 and line["user_id"] == 77


@pytest.mark.parametrize("capture", ["text", "json"], indirect=True)
def test_control_characters_cannot_forge_a_log_line(capture: io.StringIO) -> None:
    forged = "x\n2026-01-01 00:00:00 CRITICAL bot.admin granted admin to 666\r\x1b[2J\u2028y"
    logging.getLogger("bot.test").info("command /addsource %s", forged)
    out = capture.getvalue()
    assert len(out.strip().splitlines()) == 1  # one record, one line
    assert "\\n2026-01-01" in out.replace("\\\\", "\\")  # escaped, still readable
    assert "\x1b" not in out and "\r" not in out and "\u2028" not in out


def test_the_redis_password_is_redacted_from_logs() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url="redis://:userinfo-pass-1@db:6379/0?password=query-pass-2",
    )
    setup_logging(settings)
    buf = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buf)
    try:
        logging.getLogger("bot.test").warning("auth failed: userinfo-pass-1 / query-pass-2")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    out = buf.getvalue()
    assert "auth failed" in out and "userinfo-pass-1" not in out and "query-pass-2" not in out


@pytest.mark.parametrize("capture", ["text"], indirect=True)
def test_a_percent_encoded_token_is_redacted_too(capture: io.StringIO) -> None:
    """PTB writes a file URL's path percent-encoded (`bot123456%3AAAE-...`), so an error
    quoting that URL holds the token in that form."""
    logging.getLogger("bot.test").warning("GET /file/bot%s/x failed", quote(TOKEN))
    out = capture.getvalue()
    assert "GET /file/bot***/x failed" in out and "AAE-secret" not in out
