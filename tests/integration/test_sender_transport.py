"""The briefing sender built from settings (as `python -m bot briefings ...` and the
benchmark build it) sends through the aiohttp transport, with the same error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.briefings.delivery import SendBlocked, SendFailed, SendRetryAfter
from bot.config import Settings
from bot.messages import Button
from bot.telegram.sender import TelegramSender
from bot.telegram.transport import AiohttpRequest
from tests.fakes.botapi import BotAPI


@pytest.fixture
async def sender(settings: Settings, botapi: BotAPI) -> AsyncIterator[TelegramSender]:
    cfg = settings.model_copy(
        update={"telegram_bot_token": botapi.token, "telegram_base_url": botapi.url}
    )
    s = TelegramSender.from_settings(cfg, pool_size=4)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def test_sender_from_settings_uses_aiohttp_and_delivers(
    sender: TelegramSender, botapi: BotAPI
) -> None:
    assert isinstance(sender.bot.request, AiohttpRequest)
    html = "<b>موجز اليوم</b>\n1. اتصال هاتفي بين بايدن وبوتين &amp; الناتو"
    mid = await sender.send(81, html, [[Button("إلغاء الاشتراك", callback="bu")]])
    sent = botapi.current(81, mid)
    assert sent["text"] == "موجز اليوم\n1. اتصال هاتفي بين بايدن وبوتين & الناتو"
    msg = botapi.sent[-1]
    assert msg.parse_mode == "HTML" and msg.disable_preview
    assert msg.buttons[0]["callback_data"] == "bu"


async def test_sender_maps_bot_api_errors(sender: TelegramSender, botapi: BotAPI) -> None:
    botapi.fail(82, 403)
    with pytest.raises(SendBlocked):
        await sender.send(82, "x", [])
    botapi.fail(83, 429, retry_after=7)
    with pytest.raises(SendRetryAfter) as retry:
        await sender.send(83, "x", [])
    assert retry.value.seconds == 7
    botapi.fail(84, 400)
    with pytest.raises(SendFailed, match=r"(?i)chat not found"):
        await sender.send(84, "x", [])
