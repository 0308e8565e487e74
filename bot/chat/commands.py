"""The basic commands: /start, /help, /language, /length, /reset, /forget, /stats.

`register` adds them to a `Conversation`; /summarize lives in `bot.chat.digests`.
Every text comes from the catalogs, escaped before it becomes Telegram HTML.
"""

from __future__ import annotations

import asyncio
import math
from datetime import date, timedelta
from typing import cast

from bot import stats
from bot.charts import DailySeries, stats_chart_png
from bot.chat.groups import admin_only, subject
from bot.chat.inline import open_from_start
from bot.chat.router import Conversation, plain_html
from bot.domain import Lang, Length
from bot.i18n import t
from bot.limits import allow_forget
from bot.messages import Button, Incoming, Outbox, Reply
from bot.privacy import forget_user
from bot.render import escape, rtl_text
from bot.services import Services


def register(conv: Conversation) -> None:
    """Add the basic commands and the settings buttons (`s:...`) to `conv`."""
    conv.command("start", start, description="commands.start")
    conv.command("help", help_, description="commands.help")
    conv.command("language", language, description="commands.language")
    conv.command("length", length, description="commands.length")
    conv.callback("s", settings_button)
    conv.command("reset", reset, description="commands.reset")
    conv.command("forget", forget, description="commands.forget")
    conv.command("stats", stats_, admin=True)


async def start(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if msg.chat_type == "private" and await open_from_start(conv, msg, out):
        return  # the deep link of an inline query's "summarize in the bot" button
    if msg.chat_type == "private":
        await conv.services.users.touch(msg.user_id, msg.chat_id)
    lang = await conv.lang(msg)
    name = (msg.first_name or "").strip()
    greeting = t(lang, "start.greeting", name=name) if name else t(lang, "start.greeting_anon")
    text = greeting + "\n\n" + t(lang, "start.body")
    await out.send(Reply(html=escape(rtl_text(text, lang))))


async def help_(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """The intro, every published command (features' too) with its description, examples."""
    lang = await conv.lang(msg)
    lines = [t(lang, "help.intro"), ""]
    for cmd in conv.published_commands():
        lines.append(f"/{cmd.name} — {t(lang, cmd.description or '')}")
    lines += ["", t(lang, "help.summarize_examples"), "", t(lang, "help.footer")]
    await out.send(Reply(html=escape(rtl_text("\n".join(lines), lang))))


# --- preferences ----------------------------------------------------------------------


async def language(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    choice = msg.args.strip().lower()[:2]
    if choice in ("ar", "en"):
        if await admin_only(conv, msg, out):  # a group's language is its admins' choice
            await _set_lang(conv, msg, out, cast(Lang, choice))
        return
    lang = await conv.lang(msg)
    key = "settings.language_bad" if msg.args.strip() else "settings.language_prompt"
    buttons = [
        [
            Button(t(lang, "buttons.lang_ar"), callback="s:lang:ar"),
            Button(t(lang, "buttons.lang_en"), callback="s:lang:en"),
        ]
    ]
    await out.send(Reply(html=plain_html(lang, t(lang, key)), buttons=buttons))


async def length(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    choice = msg.args.strip().lower()
    if choice in ("short", "detailed"):
        await _set_length(conv, msg, out, cast(Length, choice))
        return
    lang = await conv.lang(msg)
    key = "settings.length_bad" if choice else "settings.length_prompt"
    buttons = [
        [
            Button(t(lang, "buttons.short"), callback="s:len:short"),
            Button(t(lang, "buttons.detailed"), callback="s:len:detailed"),
        ]
    ]
    await out.send(Reply(html=plain_html(lang, t(lang, key)), buttons=buttons))


async def settings_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Taps on the /language and /length buttons: "s:lang:ar", "s:len:detailed". The
    reply edits the tapped message, so in a group or a channel only its admins may tap
    (anyone can send any button data on any of the bot's messages there: a forged
    "s:len:short" would turn a digest or a briefing into "Done")."""
    _, what, value = ((msg.callback or "") + "::").split(":")[:3]
    if (what, value) not in SETTINGS_BUTTONS:
        await conv.button_notice(msg, out, "chat.expired")
        return
    if not await admin_only(conv, msg, out):
        return
    if what == "lang":
        await _set_lang(conv, msg, out, cast(Lang, value), edit=msg.callback_message_id)
    else:
        await _set_length(conv, msg, out, cast(Length, value), edit=msg.callback_message_id)


SETTINGS_BUTTONS = {("lang", "ar"), ("lang", "en"), ("len", "short"), ("len", "detailed")}


async def _set_lang(
    conv: Conversation, msg: Incoming, out: Outbox, lang: Lang, edit: int | None = None
) -> None:
    await conv.services.users.set_lang(subject(msg), lang)
    await out.send(
        Reply(html=plain_html(lang, t(lang, "settings.language_set")), edit_message_id=edit)
    )


async def _set_length(
    conv: Conversation, msg: Incoming, out: Outbox, length: Length, edit: int | None = None
) -> None:
    await conv.services.users.set_length(msg.user_id, length)
    lang = await conv.lang(msg)
    text = t(lang, f"settings.length_set_{length}")
    await out.send(Reply(html=plain_html(lang, text), edit_message_id=edit))


# --- chat state and admin ------------------------------------------------------------------


async def reset(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    await conv.services.followups.reset(msg.chat_id)
    await conv.say(msg, out, "followup.reset_done")


async def forget(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Delete everything stored about the user (bot/privacy.py), then confirm in the
    language they had chosen. At most FORGET_PER_HOUR times an hour (each one scans the
    store); the usage counters stay, so it never resets the daily limits."""
    lang = await conv.lang(msg)
    verdict = await allow_forget(conv.services.limits, msg.user_id)
    if not verdict.allowed:
        minutes = max(1, math.ceil(verdict.seconds / 60))
        await conv.say(msg, out, "chat.forget_wait", minutes=minutes)
        return
    private = msg.chat_id if msg.chat_type == "private" else None
    await forget_user(conv.services.store, msg.user_id, private_chat_id=private)
    await out.send(Reply(html=plain_html(lang, t(lang, "chat.forgotten"))))


async def stats_(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Admins only (the router checks): users, digests today, cache hit ratio, tokens."""
    services = conv.services
    lang = await conv.lang(msg)
    today: date = services.clock.now().date()
    digests = await stats.get(services.store, "digests", today)
    hits = await stats.get(services.store, "cache_hits", today)
    misses = await stats.get(services.store, "cache_misses", today)
    tokens = await stats.get(services.store, "llm_tokens", today)
    ratio = f"{hits / (hits + misses):.0%}" if hits + misses else "—"
    text = t(
        lang,
        "stats.report",
        day=today.isoformat(),
        users=await services.users.count(),
        digests=digests,
        hit_ratio=ratio,
        tokens=tokens,
    )
    kinds = await services.briefings.count_by_kind()
    text += "\n" + t(
        lang,
        "group.stats_subscribers",
        total=sum(kinds.values()),
        private=kinds["private"],
        groups=kinds["group"],
        channels=kinds["channel"],
    )
    text += "\n" + await _ocr_line(services, today, lang)
    cached = await stats.get(services.store, "llm_cached_tokens", today)
    share = f"{cached / tokens:.0%}" if tokens else "—"
    text += "\n" + t(lang, "stats.cached_tokens", cached=cached, share=share)
    await out.send(Reply(html=escape(rtl_text(text, lang))))
    png = await _chart(services, today, lang)
    caption = t(lang, "stats.chart_caption", days=CHART_DAYS)
    await out.send(Reply(html=escape(rtl_text(caption, lang)), photo=png))


async def _ocr_line(services: Services, today: date, lang: str) -> str:
    """Today's pictures and PDF pages read by OCR, and the seconds it took."""
    pages = await stats.get(services.store, "ocr_pages", today)
    seconds = await stats.get(services.store, "ocr_seconds", today)
    return t(lang, "stats.ocr", pages=pages, seconds=seconds)


CHART_DAYS = 14


async def _chart(services: Services, today: date, lang: str) -> bytes:
    """The last CHART_DAYS days of digests, cache hit ratio and LLM tokens, as a PNG
    labelled in `lang`."""
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    digests = await stats.series(services.store, "digests", days)
    hits = await stats.series(services.store, "cache_hits", days)
    misses = await stats.series(services.store, "cache_misses", days)
    tokens = await stats.series(services.store, "llm_tokens", days)
    ratio = [h / (h + m) if h + m else None for h, m in zip(hits, misses, strict=True)]
    series = DailySeries(days=days, digests=digests, hit_ratio=ratio, tokens=tokens)
    return await asyncio.to_thread(stats_chart_png, series, lang)
