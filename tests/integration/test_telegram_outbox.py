"""The Telegram Outbox over real HTTP: splitting, the keyboard on the last part, the
placeholder, the plain-text resend when Telegram rejects our HTML (messages and photo
captions), and a 403 in a private chat deleting the user's data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from telegram.ext import ExtBot

from bot.config import Settings
from bot.messages import Button, Reply
from bot.render import escape, html_to_plain
from bot.store.redis import Store
from bot.telegram.application import rate_limiter
from bot.telegram.handlers import TelegramOutbox
from tests.fakes.botapi import BotAPI, utf16_len
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import article_page, running_bot
from tests.integration.test_forget import _keys_about


@pytest.fixture
async def tgbot(botapi: BotAPI) -> AsyncIterator[ExtBot[None]]:
    bot: ExtBot[None] = ExtBot(
        botapi.token,
        base_url=botapi.base_url,
        base_file_url=botapi.base_file_url,
        rate_limiter=rate_limiter(),
    )
    async with bot:
        yield bot


async def test_long_reply_is_split_with_keyboard_on_last_part(
    botapi: BotAPI, tgbot: ExtBot[None]
) -> None:
    out = TelegramOutbox(tgbot, 50)
    await out.progress("⏳ working")
    await out.progress("⏳ still working")
    placeholder = botapi.sent[0].message_id
    html = "\n\n".join(
        f"<b>{i}</b> " + escape("نص عربي < طويل & Reuters 2024 " * 12) for i in range(40)
    )
    buttons = [[Button("English", callback="d:abcdefgh:en")], [Button("🔗", url="https://x.org/a")]]
    ids = await out.send(Reply(html=html, buttons=buttons, edit_placeholder=True))
    assert len(ids) >= 3 and ids[0] == placeholder
    parts = [botapi.current(50, i) for i in ids]
    assert all(utf16_len(p["text"]) <= 4096 for p in parts)
    assert [("reply_markup" in p) for p in parts] == [False] * (len(ids) - 1) + [True]
    assert "".join(p["text"] for p in parts).count("Reuters 2024") == 40 * 12
    assert len(botapi.visible(50)) == len(ids)  # the placeholder became part one
    assert all(s.disable_preview for s in botapi.sent if s.method == "sendMessage")


async def test_rejected_html_is_resent_as_plain_text(botapi: BotAPI, tgbot: ExtBot[None]) -> None:
    out = TelegramOutbox(tgbot, 51)
    bad = "<b>headline</b>\n<script>alert(1)</script> a < b"
    ids = await out.send(Reply(html=bad))
    assert ("sendMessage", 400) in [(m, c) for m, c, _ in botapi.errors]
    assert any("can't parse entities" in d for _, _, d in botapi.errors)
    sent = botapi.current(51, ids[0])
    assert sent["text"] == html_to_plain(bad).strip()
    assert botapi.sent[-1].parse_mode is None


async def test_leftover_placeholder_is_removed(botapi: BotAPI, tgbot: ExtBot[None]) -> None:
    out = TelegramOutbox(tgbot, 52)
    await out.progress("⏳ working")
    await out.send(Reply(html="a new message"))  # not edited into the placeholder
    await out.finish()
    assert [m["text"] for m in botapi.visible(52)] == ["a new message"]


async def test_callback_data_over_64_bytes_fails_in_our_code(tgbot: ExtBot[None]) -> None:
    out = TelegramOutbox(tgbot, 53)
    with pytest.raises(ValueError, match="64 bytes"):
        await out.send(Reply(html="x", buttons=[[Button("q", callback="d:" + "ي" * 40)]]))


async def test_fake_rejects_long_callback_data_like_telegram(
    botapi: BotAPI, tgbot: ExtBot[None]
) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.error import BadRequest

    markup = InlineKeyboardMarkup([[InlineKeyboardButton("q", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await tgbot.send_message(54, "hi", reply_markup=markup)
    assert botapi.errors[-1] == ("sendMessage", 400, "Bad Request: BUTTON_DATA_INVALID")


async def test_edit_of_a_vanished_message_sends_a_new_one(
    botapi: BotAPI, tgbot: ExtBot[None]
) -> None:
    out = TelegramOutbox(tgbot, 55)
    ids = await out.send(Reply(html="<b>done</b>", edit_message_id=999))
    assert botapi.errors[-1] == ("editMessageText", 400, "Bad Request: message to edit not found")
    assert botapi.current(55, ids[0])["text"] == "done"


async def test_rejected_caption_html_is_resent_as_plain_text(
    botapi: BotAPI, tgbot: ExtBot[None]
) -> None:
    out = TelegramOutbox(tgbot, 56)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    bad = "<b>إحصاءات</b>\n<script>alert(1)</script> a < b"
    ids = await out.send(Reply(html=bad, photo=png, buttons=[[Button("↻", callback="st")]]))
    assert ("sendPhoto", 400) in [(m, c) for m, c, _ in botapi.errors]
    sent = botapi.sent[-1]
    assert sent.method == "sendPhoto" and sent.message_id == ids[0]
    assert sent.parse_mode is None and sent.photo == png
    assert sent.text == html_to_plain(bad)
    assert sent.buttons[0]["callback_data"] == "st"
    assert len(botapi.sent) == 1  # one photo, not a photo and a text


async def test_blocked_user_is_logged_and_their_data_removed(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    pages: PageServer,
    seed_text: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 403 while answering a private chat deletes what is stored about that user;
    other users are still served."""
    blocked, other = 6161, 7171
    async with running_bot(settings, store, botapi, fake_llm) as bot:
        url = pages.add("/blocked-news", article_page(seed_text, "مكالمة"))
        for user in (blocked, other):
            botapi.command(user, "/language ar", user_id=user, language_code="ar")
            await bot.reply(user)
            botapi.message(user, url, user_id=user, language_code="ar")
            await bot.reply(user, contains="•")
        before = await _keys_about(store, blocked)
        assert any(":user:" in k for k in before) and any(":rate:" in k for k in before)

        botapi.fail(blocked, 403, times=10)
        with caplog.at_level(logging.INFO, logger="bot"):
            botapi.message(blocked, "متى بدأ الاتصال؟", user_id=blocked, language_code="ar")
            await botapi.wait_until(lambda: any(c == 403 for _, c, _ in botapi.errors))
            await _until_forgotten(store, blocked)
            botapi.command(other, "/help", user_id=other, language_code="ar")
            await bot.reply(other)
        assert any("blocked the bot" in r.getMessage() for r in caplog.records)
        assert await _keys_about(store, blocked, counters=False) == []  # counters stay
        assert any(":user:" in k for k in await _keys_about(store, other))


async def _until_forgotten(store: Store, user_id: int) -> None:
    """Wait (on Redis, bounded) until no key about `user_id` is left."""
    for _ in range(200):
        if not await _keys_about(store, user_id, counters=False):
            return
        await asyncio.sleep(0.01)
