"""Running the real bot against the fake Bot API, for the Telegram end-to-end tests.

`running_bot(...)` builds the real services (SummarizeService with the fake LLM and the
page server, real Redis), the real python-telegram-bot Application pointed at the fake
Bot API, and starts long polling. Tests then queue updates on the fake and await the
bot's messages with `fake.wait_for` (no sleeps).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram.ext import Application

from bot.clock import Clock, FrozenClock
from bot.config import Settings
from bot.services import Services
from bot.store.redis import Store
from bot.telegram.application import build_application, open_services
from bot.telegram.lifecycle import DRAIN_SECONDS, processor_of, running
from tests.fakes.botapi import BotAPI, Draft, Sent
from tests.fakes.llm import FakeLLM
from tests.fakes.models import faithful, numbered_sentences

BLOCK = re.compile(r"<(article|notes)>\n(.*)\n</\1>", re.S)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ADMIN = 4242
EN_QUESTIONS = ["Who took part in the call?", "What happens next?", "Why does it matter?"]
AR_QUESTIONS = ["من شارك في الاتصال؟", "ما الخطوة التالية؟", "لماذا يهم هذا؟"]
ANSWER = "الجواب من المقال نفسه."


def _user(body: dict[str, Any]) -> str:
    return "\n".join(
        str(m.get("content", "")) for m in body["messages"] if m["role"] != "assistant"
    )


def model(body: dict[str, Any]) -> str:
    """A well-behaved fake model: a digest made of the article's own sentences (Arabic),
    or neutral English sentences when asked for English; map steps get "points". A
    follow-up answer rests on the first real sentence it was given and cites its id."""
    text = _user(body)
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if schema == "search_keywords":
        return json.dumps({"keywords": []})
    if schema == "answer":
        given = [(i, s) for i, s in numbered_sentences(body) if i and len(s) > 25][:1]
        if not given:
            return json.dumps({"answer": "", "sources": [], "found": False})
        sid, sentence = given[0]
        english = "<answer_language>English</answer_language>" in text
        answer = "The article says it in the cited sentence." if english else f"{ANSWER} {sentence}"
        return json.dumps({"answer": answer, "sources": [sid], "found": True}, ensure_ascii=False)
    return faithful(body)


def article_page(text: str, title: str = "مقال") -> str:
    paras = "".join(f"<p>{p}</p>" for p in text.split("\n\n") if p.strip())
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta property='og:site_name' content='أخبار الاختبار'></head>"
        f"<body><article><h1>{title}</h1>{paras}</article></body></html>"
    )


def is_live(sent: Sent | Draft) -> bool:
    """True for a draft or a message showing a reply still being written (streamed;
    the final reply replaces it)."""
    return sent.plain.rstrip().endswith(("✍️ أكتب…", "✍️ Writing…"))


def model_clock(
    fake: BotAPI, fake_llm: FakeLLM, *, rate: float = 25.0, pace: float = 4000.0
) -> FrozenClock:
    """A clock (at NOW) that the fake LLM moves by each streamed token's time at `rate`
    tokens a second while it streams at `pace` (real tokens a second), and that the
    fake Bot API reads too: paces are judged in the model's time."""
    clock = FrozenClock(NOW)
    fake_llm.stream_rate = pace
    fake_llm.stream_tick = lambda seconds: clock.advance(seconds=seconds * pace / rate)
    fake.clock = lambda: clock.now().timestamp()
    return clock


@dataclass
class Bot:
    fake: BotAPI
    app: Application  # type: ignore[type-arg]
    services: Services
    settings: Settings

    def last(self, chat_id: int) -> Sent:
        return self.fake.sent_to(chat_id)[-1]

    async def settled(self, wait: float = 30.0) -> None:
        """Return once every update the Application has taken from the fake is handled
        (call it after something shows the updates were fetched)."""
        processor = processor_of(self.app)
        assert processor is not None
        await asyncio.wait_for(processor.wait_idle(self.app.update_queue), wait)

    async def reply(self, chat_id: int, *, contains: str = "", wait: float = 10.0) -> Sent:
        """The first message sent or edited into `chat_id` after now that contains `contains`
        and is not a progress placeholder."""
        start = len(self.fake.sent)
        return await self.fake.wait_for(
            lambda s: (
                s.chat_id == chat_id
                and contains in s.plain
                and not s.plain.startswith("⏳")
                and not is_live(s)
            ),
            wait,
            start=start,
        )


def bot_settings(settings: Settings, fake: BotAPI, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": fake.token,
            "telegram_base_url": fake.url,
            "admin_user_ids": str(ADMIN),
            **extra,
        }
    )


@asynccontextmanager
async def running_bot(
    settings: Settings,
    store: Store,
    fake: BotAPI,
    fake_llm: FakeLLM | None = None,
    clock: Clock | None = None,
    drain_seconds: float = DRAIN_SECONDS,
    **extra: Any,
) -> AsyncIterator[Bot]:
    """The real Application, polling the fake Bot API, with real services (and the
    given clock, else one frozen at NOW); on exit, updates still running get
    `drain_seconds` to finish."""
    if fake_llm is not None:
        fake_llm.handler = model
    cfg = bot_settings(settings, fake, **extra)
    app = build_application(cfg)
    services = await open_services(app, cfg, store=store, clock=clock or FrozenClock(NOW))
    try:
        async with running(app, drain_seconds=drain_seconds):  # as `python -m bot run`
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=5)
            yield Bot(fake, app, services, cfg)
    finally:
        await services.close()
