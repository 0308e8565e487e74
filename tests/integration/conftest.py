"""Fixtures for the end-to-end Telegram tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.integration.telegram_harness import Bot, running_bot


@pytest.fixture
async def bot(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> AsyncIterator[Bot]:
    """The real bot (Application, services, polling) against the fake Bot API."""
    async with running_bot(settings, store, botapi, fake_llm) as b:
        yield b
