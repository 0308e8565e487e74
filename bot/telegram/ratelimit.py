"""Telegram's pace for the bot's own messages, waited for outside the update's slot.

Telegram lets a bot post about 20 messages a minute in one group or channel
(GROUP_MESSAGES_PER_MINUTE), and answers 429 (RetryAfter) past its limits.
`ChatPaceLimiter` is the Application's rate limiter (python-telegram-bot calls
`process_request` around every Bot API call): a call that makes or edits a message in
a group or a channel (a negative chat id) takes a place in that chat's leaky bucket
first, and a RetryAfter is waited out and the call retried (a few times).

Both waits happen with the update's working slot given back
(`bot.telegram.lifecycle.slot_lent`): with PTB's AIORateLimiter a handler slept on a
busy group's pace while holding one of the 32 slots, so 60 /help in one group held
them all and a private /start waited 26 s. Here a paced handler holds nothing that
another chat needs. Only calls that post or edit a message are paced (getChatMember,
chat actions and answerCallbackQuery are not messages in the chat); private chats are
not paced (Telegram's per-chat limit there is about one a second, and replies follow
the user's own messages). Briefings pace their groups across processes too
(bot/briefings/pacing.py) before they reach this limiter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot import metrics
from bot.telegram.lifecycle import slot_lent
from bot.telegram.sender import retry_seconds

log = logging.getLogger(__name__)

# Bot API methods that post or edit a message in the chat named by `chat_id`
PACED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
    }
)
# Bot API methods never retried after a RetryAfter: a draft waited for is stale by then,
# and the finished message must not wait behind it (DraftStream waits and sends the newest)
UNRETRIED_METHODS = frozenset({"sendMessageDraft"})
MAX_CHATS = 512  # buckets kept before the idle ones are dropped

Callback = Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]]


class ChatPaceLimiter(BaseRateLimiter[int]):
    """Per-group pace and RetryAfter retries, with the update slot lent while waiting."""

    def __init__(self, *, group_per_minute: int = 20, max_retries: int = 3) -> None:
        self.group_per_minute = group_per_minute
        self.max_retries = max_retries
        self._chats: dict[int, AsyncLimiter] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""

    def _bucket(self, chat_id: int) -> AsyncLimiter:
        if len(self._chats) > MAX_CHATS:
            for key, bucket in list(self._chats.items()):
                if bucket.has_capacity(bucket.max_rate):  # idle for a minute: forget it
                    del self._chats[key]
        if chat_id not in self._chats:
            self._chats[chat_id] = AsyncLimiter(self.group_per_minute, 60)
        return self._chats[chat_id]

    async def _pace(self, chat_id: int) -> None:
        """Take a place in the chat's pace; wait with the slot lent when there is none."""
        bucket = self._bucket(chat_id)
        if bucket.has_capacity():
            await bucket.acquire()  # at once: nothing in between can take the place
            return
        async with slot_lent():
            await bucket.acquire()

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Run one Bot API call: paced when it posts or edits in a group or channel,
        retried after a RetryAfter up to `max_retries` times (then it is raised; a
        draft at once)."""
        chat_id = _chat_id(data.get("chat_id"))
        paced = endpoint in PACED_METHODS and chat_id is not None and chat_id < 0
        retries = rate_limit_args if rate_limit_args is not None else self.max_retries
        if endpoint in UNRETRIED_METHODS:
            retries = 0
        for attempt in range(retries + 1):
            if paced:
                assert chat_id is not None
                await self._pace(chat_id)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == retries:
                    raise
                wait = retry_seconds(exc) + 0.1
                metrics.RATE_LIMIT_HITS.labels(limit="telegram_429").inc()
                log.info("Telegram asked to wait %.1f s (%s); retrying", wait, endpoint)
                async with slot_lent():
                    await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises


def _chat_id(value: object) -> int | None:
    """The numeric chat id of a call (None: no chat, or an @username)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None
