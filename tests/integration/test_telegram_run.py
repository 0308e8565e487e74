"""`python -m bot run` as operators start it: a real process polling the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.config import Settings
from bot.store.redis import Store
from tests.conftest import free_port
from tests.fakes.botapi import BotAPI

ROOT = Path(__file__).parents[2]


async def test_run_polls_answers_and_stops_cleanly_on_sigterm(
    settings: Settings, store: Store, botapi: BotAPI, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_BASE_URL": botapi.url,
        "REDIS_URL": settings.redis_url or "",
        "REDIS_PREFIX": store.keys.prefix,
        "OPENAI_API_KEY": "",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "BOT_DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("WEBHOOK_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        botapi.command(90, "/start", language_code="ar", first_name="سارة")
        reply = await botapi.wait_for(lambda s: s.chat_id == 90, 30)
        assert "أهلًا سارة!" in reply.plain
        assert "default:ar" in botapi.commands and "default:en" in botapi.commands
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
