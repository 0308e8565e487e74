"""Briefing commands and buttons in a chat (the services live in bot/briefings).

/subscribe [HH:MM] (default 07:00), /unsubscribe, /timezone [IANA zone], /briefing
(send now), /sources, /addsource <feed or site URL>, /removesource (buttons), and the
briefing message's buttons: `bd:<article id>` (full digest of a story, which becomes
the chat's active article) and `bu` (unsubscribe). Also `rs:<feed id>` (remove a
source). Strings live in the `[briefing]` catalog tables.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.briefings import sources as srcs
from bot.briefings import subscriptions as subs
from bot.briefings.feeds import get_article
from bot.briefings.message import DIGEST_PREFIX, UNSUBSCRIBE, render_parts
from bot.briefings.pacing import story_ids, without_unsubscribe
from bot.briefings.recall import remember_briefing
from bot.briefings.schedule import format_hhmm
from bot.chat.digests import digest_article
from bot.chat.groups import admin_only, subject
from bot.chat.router import Conversation, plain_html
from bot.i18n import t
from bot.messages import Button, Incoming, Outbox, Reply

REMOVE_PREFIX = "rs"


def register(conv: Conversation) -> None:
    """Add the briefing commands and the briefing message's buttons to `conv`."""
    conv.command("subscribe", subscribe, description="briefing.cmd_subscribe")
    conv.command("unsubscribe", unsubscribe, description="briefing.cmd_unsubscribe")
    conv.callback(UNSUBSCRIBE, unsubscribe_button)
    conv.command("timezone", timezone, description="briefing.cmd_timezone")
    conv.command("briefing", briefing_now, description="briefing.cmd_briefing")
    conv.command("sources", list_sources, description="briefing.cmd_sources")
    conv.command("addsource", add_source, description="briefing.cmd_addsource")
    conv.command("removesource", remove_source, description="briefing.cmd_removesource")
    conv.callback(REMOVE_PREFIX, remove_button)
    conv.callback(DIGEST_PREFIX.rstrip(":"), story_digest)


async def _zone(conv: Conversation, msg: Incoming) -> str:
    return await subs.user_timezone(
        conv.services.store, subject(msg), conv.services.settings.default_timezone
    )


def _key(msg: Incoming, name: str) -> str:
    """The catalog key of a reply about the subscription: the user's, or the chat's."""
    return f"briefing.{name}" if msg.chat_type == "private" else f"group.{name}"


async def subscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Subscribe the user, or (admins only) the group or channel the command is in."""
    if not await admin_only(conv, msg, out):
        return
    at = subs.check_time(msg.args)  # BadTime -> translated by the router
    lang = await conv.lang(msg)
    zone = await _zone(conv, msg)
    sub = await subs.subscribe(
        conv.services.store,
        user_id=subject(msg),
        chat_id=msg.chat_id,
        hhmm=at,
        tz=zone,
        lang=lang,
        now=conv.services.clock.now(),
        kind=msg.chat_type,
    )
    await conv.say(msg, out, _key(msg, "subscribed"), time=format_hhmm(sub.hhmm), zone=sub.tz)


async def unsubscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if not await admin_only(conv, msg, out):
        return
    removed = await subs.unsubscribe(conv.services.store, subject(msg))
    await conv.say(msg, out, _key(msg, "unsubscribed" if removed else "not_subscribed"))


async def unsubscribe_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    await unsubscribe(conv, msg, out)


async def timezone(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if not msg.args.strip():
        await conv.say(msg, out, "briefing.timezone_current", zone=await _zone(conv, msg))
        return
    if not await admin_only(conv, msg, out):
        return
    zone = await subs.set_timezone(
        conv.services.store, subject(msg), msg.args, now=conv.services.clock.now()
    )
    await conv.say(msg, out, "briefing.timezone_set", zone=zone)


async def briefing_now(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Send the user's briefing now (does not change their daily schedule)."""
    b = conv.services.briefings
    await out.typing()
    brief = await b.composer.build(
        user_id=subject(msg),
        lang=await conv.lang(msg),
        tz=await _zone(conv, msg),
        now=conv.services.clock.now(),
    )
    sent: list[int] = []
    for html, buttons in render_parts(brief):
        stories = story_ids(buttons)
        if msg.chat_type != "private":  # admins send /unsubscribe; members cannot tap it
            buttons = without_unsubscribe(buttons)
        sent += await out.send(Reply(html=html, buttons=buttons, kind="briefing"))
        if stories:  # a reply to the briefing asks about these stories
            ttl = conv.services.settings.context_ttl
            await remember_briefing(conv.services.store, msg.chat_id, sent, stories, ttl=ttl)


async def list_sources(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    b = conv.services.briefings
    lang = await conv.lang(msg)
    own = await srcs.user_sources(conv.services.store, subject(msg))
    if not b.defaults and not own:
        await conv.say(msg, out, "briefing.sources_none")
        return
    default = t(lang, "briefing.source_default")
    items = [f"• {s.name} {default}" for s in b.defaults] + [f"• {s.name}" for s in own]
    lines = [f"<b>{plain_html(lang, t(lang, 'briefing.sources_header'))}</b>"]
    lines += [plain_html(lang, item) for item in items]
    lines += ["", plain_html(lang, t(lang, "briefing.sources_hint"))]
    await out.send(Reply(html="\n".join(lines)))


async def add_source(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    url = msg.args.strip()
    if not url:
        await conv.say(msg, out, "briefing.addsource_usage")
        return
    if not await admin_only(conv, msg, out):
        return
    b, services = conv.services.briefings, conv.services
    # each try fetches and parses a feed: it counts as a request against the user's
    # rate (RateLimited / BudgetExceeded -> translated by the router)
    await services.limits.reserve(msg.user_id)
    await out.typing()
    # BadInput / NotAFeed / BlockedAddress / FetchError -> translated by the router
    src = await srcs.add_source(
        services.store,
        b.fetcher,
        subject(msg),
        url,
        max_bytes=services.settings.feed_max_bytes,
    )
    await conv.say(msg, out, "briefing.source_added", name=src.name)


async def remove_source(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if not await admin_only(conv, msg, out):
        return
    lang = await conv.lang(msg)
    own = await srcs.user_sources(conv.services.store, subject(msg))
    if not own:
        await conv.say(msg, out, "briefing.remove_none")
        return
    asked = msg.args.split()[0] if msg.args.split() else ""
    named = source_named(own, asked) if asked else None
    if named is not None:  # "/removesource <url>": that source, no buttons
        await srcs.remove_source(conv.services.store, subject(msg), named.id)
        await conv.say(msg, out, "briefing.source_removed", name=named.name)
        return
    key = "briefing.remove_unknown" if asked else "briefing.remove_choose"
    buttons = [[Button(f"✖ {s.name}"[:60], callback=f"{REMOVE_PREFIX}:{s.id}")] for s in own]
    html = plain_html(lang, t(lang, key))
    await out.send(Reply(html=html, buttons=buttons))


def source_named(own: list[srcs.Source], link: str) -> srcs.Source | None:
    """The source `link` names: its feed URL (normalized), else the only source on that
    site (the user may give the site's address they added, not the feed's)."""
    try:
        wanted = srcs.feed_id(link if "://" in link else f"https://{link}")
    except ValueError:
        return None
    for source in own:
        if source.id == wanted:
            return source
    host = urlsplit(link if "://" in link else f"https://{link}").hostname or ""
    host = host.removeprefix("www.")
    same = [s for s in own if (urlsplit(s.url).hostname or "").removeprefix("www.") == host]
    return same[0] if host and len(same) == 1 else None


async def remove_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    source_id = (msg.callback or "").split(":", 1)[1] if ":" in (msg.callback or "") else ""
    if not await admin_only(conv, msg, out):
        return
    removed = await srcs.remove_source(conv.services.store, subject(msg), source_id)
    if removed is None:
        await conv.say(msg, out, "chat.expired")
        return
    await conv.say(msg, out, "briefing.source_removed", name=removed.name)


async def story_digest(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """A story's "full digest" button: summarize its lead article; it becomes active."""
    if msg.chat_type == "channel" and not await admin_only(conv, msg, out):
        return  # a reader's tap would post the digest to the whole channel
    aid = (msg.callback or "").split(":", 1)[-1]
    fa = await get_article(conv.services.store, aid)
    if fa is None:
        await conv.say(msg, out, "briefing.story_gone")
        return
    article = fa.to_article()
    await digest_article(conv, msg, out, article)  # keeps it by id, for follow-ups
