"""The Telegram implementation of the briefing `Sender` (python-telegram-bot's `Bot`).

Maps Bot API answers onto the delivery errors: 403 Forbidden -> SendBlocked, 429
RetryAfter -> SendRetryAfter(seconds), a group upgraded to a supergroup (ChatMigrated)
-> SendMoved(new id), anything else -> SendFailed. Messages go out in
HTML parse mode with link previews off, through PTB's public `Bot.send_message`; the
keyboard object is built once per distinct keyboard. What building and parsing PTB's
objects costs per message is measured in docs/benchmarks.md ("briefings").
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.briefings import SendBlocked, SendFailed, SendMoved, SendRetryAfter
from bot.config import Settings
from bot.messages import Button
from bot.telegram.keyboards import keyboard
from bot.telegram.transport import AiohttpRequest

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def retry_seconds(exc: RetryAfter) -> float:
    """The wait a RetryAfter asks for, in seconds (without PTB's int/timedelta warning)."""
    value = getattr(exc, "_retry_after", None)
    if value is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Sends briefings through the Bot API at `settings.telegram_base_url`."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        # id(buttons) -> (buttons, markup): briefings reuse one rendered keyboard per
        # distinct briefing; keeping the list alive keeps its id from being reused.
        self._markup: dict[int, tuple[list[list[Button]], InlineKeyboardMarkup | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = 64) -> TelegramSender:
        """A sender with its own Bot; call `start()` before and `close()` after use.

        It talks to the Bot API through the project's aiohttp transport, as the bot
        does (PTB's default httpx one was much slower: docs/benchmarks.md)."""
        settings.require_token()
        request = AiohttpRequest(
            pool_size=pool_size, connect_timeout=5, read_timeout=10, pool_timeout=10
        )
        bot = Bot(
            settings.telegram_bot_token,
            base_url=f"{settings.telegram_base_url.rstrip('/')}/bot",
            request=request,
            get_updates_request=AiohttpRequest(pool_size=1),  # never polls; no httpx client
        )
        return cls(bot)

    async def start(self) -> None:
        await self.bot.initialize()

    async def close(self) -> None:
        await self.bot.shutdown()

    async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
        """Send one HTML message; return its id. Raises SendBlocked/SendRetryAfter/SendFailed."""
        try:
            message = await self.bot.send_message(
                chat_id,
                html,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=self._keyboard(buttons),
            )
        except Forbidden as exc:
            raise SendBlocked(str(exc)) from None
        except RetryAfter as exc:
            raise SendRetryAfter(retry_seconds(exc)) from None
        except ChatMigrated as exc:  # 400 with migrate_to_chat_id: a group upgraded
            raise SendMoved(exc.new_chat_id) from None
        except TelegramError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from None
        return message.message_id

    def _keyboard(self, buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
        hit = self._markup.get(id(buttons))
        if hit is not None and hit[0] is buttons:
            return hit[1]
        markup = keyboard(buttons)
        if len(self._markup) > 1000:
            self._markup.clear()
        self._markup[id(buttons)] = (buttons, markup)
        return markup
