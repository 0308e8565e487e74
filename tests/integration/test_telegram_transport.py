"""The Bot API transport (bot.telegram.transport.AiohttpRequest) keeps HTTPXRequest's contract:
answers and Telegram errors come through PTB unchanged, a silent server is TimedOut,
a refused connection is NetworkError, and files go up as multipart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.telegram.transport import AiohttpRequest
from tests.conftest import free_port
from tests.fakes.botapi import BotAPI

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    """A server that accepts requests and never answers; yields its URL."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/hang", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hang"
    release.set()
    await runner.cleanup()


async def test_messages_photos_and_errors_go_through_ptb() -> None:
    async with BotAPI() as fake:
        request = AiohttpRequest(pool_size=4)
        bot = Bot(fake.token, base_url=f"{fake.url}/bot", request=request)
        async with bot:
            sent = await bot.send_message(5, "<b>مرحبا</b> بالعالم", parse_mode="HTML")
            assert fake.current(5, sent.message_id)["text"] == "مرحبا بالعالم"
            photo = await bot.send_photo(5, PNG, caption="الرسم")
            assert photo.caption == "الرسم"
            assert fake.sent[-1].photo == PNG
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(5, "<b>مرحبا", parse_mode="HTML")


async def test_a_silent_server_is_timed_out(silent: str) -> None:
    request = AiohttpRequest(pool_size=1, read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.post(silent)
    finally:
        await request.shutdown()


async def test_a_refused_connection_is_a_network_error() -> None:
    request = AiohttpRequest(pool_size=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{free_port()}/bot/getMe")
        assert not isinstance(caught.value, TimedOut)
    finally:
        await request.shutdown()


async def test_requests_need_initialize() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest(pool_size=1).do_request("http://127.0.0.1:1/", "POST")
