"""What the Application keeps for its handlers: PTB's `bot_data`, typed.

`build_application` passes `ContextTypes(bot_data=BotData)`, so `context.bot_data` in a
handler (and `app.bot_data`) is a `BotData`, not a dict of strings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.ext import CallbackContext, ExtBot

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.chat.router import Conversation
    from bot.services import Services


@dataclass
class BotData:
    owns_services: bool = False  # `python -m bot run`: start the scheduler, close at the end
    services: Services | None = None
    conversation: Conversation | None = None
    scheduler: AsyncIOScheduler | None = None
    readers_warm: asyncio.Task[None] | None = None  # the reader workers starting up

    @property
    def conv(self) -> Conversation:
        """The conversation the handlers answer with (attached before the first update)."""
        assert self.conversation is not None, "services are attached before polling starts"
        return self.conversation


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]
