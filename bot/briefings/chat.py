"""Briefing commands and buttons, registered on the transport-neutral Conversation.

/subscribe [HH:MM] (default 07:00), /unsubscribe, /timezone [IANA zone], /briefing
(send now), /sources, /addsource <feed or site URL>, /removesource (buttons), and the
briefing message's buttons: `bd:<article id>` (full digest of a story, which becomes
the chat's active article) and `bu` (unsubscribe). Also `rs:<feed id>` (remove a
source). Strings live in the `[briefing]` catalog tables.
"""

from __future__ import annotations

from typing import Any

from bot.briefings import sources as srcs
from bot.briefings import subscriptions as subs
from bot.briefings.message import DIGEST_PREFIX, UNSUBSCRIBE, render_parts
from bot.briefings.schedule import format_hhmm
from bot.chat.router import Conversation, plain_html
from bot.chat.types import Button, Incoming, Outbox, Reply
from bot.domain import Article, Lang
from bot.i18n import t

REMOVE_PREFIX = "rs"


class _ChatOnly:
    """The chat never sends through the broadcast Sender (it answers via the Outbox)."""

    async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
        raise RuntimeError("chat replies go through the Outbox")


def briefings(conv: Conversation) -> Any:
    """The process's Briefings (built on first use when the runner did not attach one)."""
    services = conv.services
    if services.briefings is None:
        from bot.briefings.scheduler import Briefings

        services.briefings = Briefings.create(
            services.settings,
            services.store,
            _ChatOnly(),
            clock=services.clock,
            llm=getattr(services.summarizer, "llm", None),
            owns_llm=False,
        )
    return services.briefings


async def _zone(conv: Conversation, msg: Incoming) -> str:
    return await subs.user_timezone(
        conv.services.store, msg.user_id, conv.services.settings.default_timezone
    )


@Conversation.command("subscribe", description="briefing.cmd_subscribe")
async def subscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    at = subs.check_time(msg.args)  # BadTime -> translated by the router
    lang = await conv.lang(msg)
    zone = await _zone(conv, msg)
    sub = await subs.subscribe(
        conv.services.store,
        user_id=msg.user_id,
        chat_id=msg.chat_id,
        hhmm=at,
        tz=zone,
        lang=lang,
        now=conv.services.clock.now(),
    )
    await conv.say(msg, out, "briefing.subscribed", time=format_hhmm(sub.hhmm), zone=sub.tz)


@Conversation.command("unsubscribe", description="briefing.cmd_unsubscribe")
async def unsubscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    removed = await subs.unsubscribe(conv.services.store, msg.user_id)
    await conv.say(msg, out, "briefing.unsubscribed" if removed else "briefing.not_subscribed")


@Conversation.callback(UNSUBSCRIBE)
async def unsubscribe_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    await unsubscribe(conv, msg, out)


@Conversation.command("timezone", description="briefing.cmd_timezone")
async def timezone(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if not msg.args.strip():
        await conv.say(msg, out, "briefing.timezone_current", zone=await _zone(conv, msg))
        return
    zone = await subs.set_timezone(
        conv.services.store, msg.user_id, msg.args, now=conv.services.clock.now()
    )
    await conv.say(msg, out, "briefing.timezone_set", zone=zone)


@Conversation.command("briefing", description="briefing.cmd_briefing")
async def briefing_now(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Send the user's briefing now (does not change their daily schedule)."""
    b = briefings(conv)
    await out.typing()
    brief = await b.composer.build(
        user_id=msg.user_id,
        lang=await conv.lang(msg),
        tz=await _zone(conv, msg),
        now=conv.services.clock.now(),
    )
    for html, buttons in render_parts(brief):
        await out.send(Reply(html=html, buttons=buttons, kind="briefing"))


@Conversation.command("sources", description="briefing.cmd_sources")
async def list_sources(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    b = briefings(conv)
    lang = await conv.lang(msg)
    own = await srcs.user_sources(conv.services.store, msg.user_id)
    if not b.defaults and not own:
        await conv.say(msg, out, "briefing.sources_none")
        return
    default = t(lang, "briefing.source_default")
    items = [f"• {s.name} {default}" for s in b.defaults] + [f"• {s.name}" for s in own]
    lines = [f"<b>{plain_html(lang, t(lang, 'briefing.sources_header'))}</b>"]
    lines += [plain_html(lang, item) for item in items]
    lines += ["", plain_html(lang, t(lang, "briefing.sources_hint"))]
    await out.send(Reply(html="\n".join(lines)))


@Conversation.command("addsource", description="briefing.cmd_addsource")
async def add_source(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    url = msg.args.strip()
    if not url:
        await conv.say(msg, out, "briefing.addsource_usage")
        return
    b = briefings(conv)
    await out.typing()
    # BadInput / NotAFeed / BlockedAddress / FetchError -> translated by the router
    src = await srcs.add_source(conv.services.store, b.fetcher, msg.user_id, url)
    await conv.say(msg, out, "briefing.source_added", name=src.name)


@Conversation.command("removesource", description="briefing.cmd_removesource")
async def remove_source(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    lang = await conv.lang(msg)
    own = await srcs.user_sources(conv.services.store, msg.user_id)
    if not own:
        await conv.say(msg, out, "briefing.remove_none")
        return
    buttons = [[Button(f"✖ {s.name}"[:60], callback=f"{REMOVE_PREFIX}:{s.id}")] for s in own]
    html = plain_html(lang, t(lang, "briefing.remove_choose"))
    await out.send(Reply(html=html, buttons=buttons))


@Conversation.callback(REMOVE_PREFIX)
async def remove_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    source_id = (msg.callback or "").split(":", 1)[1] if ":" in (msg.callback or "") else ""
    removed = await srcs.remove_source(conv.services.store, msg.user_id, source_id)
    if removed is None:
        await conv.say(msg, out, "chat.expired")
        return
    await conv.say(msg, out, "briefing.source_removed", name=removed.name)


@Conversation.callback(DIGEST_PREFIX.rstrip(":"))
async def story_digest(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """A story's "full digest" button: summarize its lead article; it becomes active."""
    from bot.briefings.feeds import get_article
    from bot.chat.digests import _summarize, deliver_digest

    aid = (msg.callback or "").split(":", 1)[-1]
    fa = await get_article(conv.services.store, aid)
    if fa is None:
        await conv.say(msg, out, "briefing.story_gone")
        return
    lang: Lang = "en" if fa.language == "en" else "ar"
    article = Article(
        text=fa.text,
        title=fa.title,
        url=fa.url,
        site_name=fa.source_name,
        language=lang,
        source_kind="url",
    )
    svc = conv.services.summarizer
    remember = getattr(svc, "_remember", None)
    if remember is not None:  # so follow-up questions find the article by id
        await remember(article)

    async def produce(progress: Any) -> Any:
        return await _summarize(conv, msg, article, progress, lang=None, length=None)

    await deliver_digest(conv, msg, out, produce)
