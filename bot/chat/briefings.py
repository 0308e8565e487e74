"""Briefing commands and buttons in a chat (the services live in bot/briefings).

/subscribe [HH:MM] (default 07:00), /unsubscribe, /timezone [IANA zone], /briefing
(send now), /sources, /addsource <feed or site URL>, /removesource (buttons), and the
briefing message's buttons: `bd:<article id>` (full digest of a story, which becomes
the chat's active article) and `bu` (unsubscribe). Also `rs:<feed id>` (remove a
source). Topics (issue 23): /follow <words>, /unfollow <words>, /mute <words>,
/unmute <words> (admins only in groups and channels, like the other settings) and
/topics. Strings live in the `[briefing]` catalog tables.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.briefings import DIGEST_PREFIX, UNSUBSCRIBE, Source, check_time, feed_id, format_hhmm
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
    conv.command("follow", follow, description="briefing.cmd_follow")
    conv.command("unfollow", unfollow, description="briefing.cmd_unfollow")
    conv.command("mute", mute, description="briefing.cmd_mute")
    conv.command("unmute", unmute, description="briefing.cmd_unmute")
    conv.command("topics", list_topics, description="briefing.cmd_topics")


async def _zone(conv: Conversation, msg: Incoming) -> str:
    return await conv.services.briefings.timezone_of(subject(msg))


def _key(msg: Incoming, name: str) -> str:
    """The catalog key of a reply about the subscription: the user's, or the chat's."""
    return f"briefing.{name}" if msg.chat_type == "private" else f"group.{name}"


async def subscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Subscribe the user, or (admins only) the group or channel the command is in."""
    if not await admin_only(conv, msg, out):
        return
    at = check_time(msg.args)  # BadTime -> translated by the router
    sub = await conv.services.briefings.subscribe(
        subject(msg),
        msg.chat_id,
        at,
        tz=await _zone(conv, msg),
        lang=await conv.lang(msg),
        kind=msg.chat_type,
    )
    await conv.say(msg, out, _key(msg, "subscribed"), time=format_hhmm(sub.hhmm), zone=sub.tz)


async def unsubscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if not await admin_only(conv, msg, out):
        return
    removed = await conv.services.briefings.unsubscribe(subject(msg))
    await conv.say(msg, out, _key(msg, "unsubscribed" if removed else "not_subscribed"))


async def unsubscribe_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    await unsubscribe(conv, msg, out)


async def timezone(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if not msg.args.strip():
        await conv.say(msg, out, "briefing.timezone_current", zone=await _zone(conv, msg))
        return
    if not await admin_only(conv, msg, out):
        return
    zone = await conv.services.briefings.set_timezone(subject(msg), msg.args)
    await conv.say(msg, out, "briefing.timezone_set", zone=zone)


async def briefing_now(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Send the user's briefing now (does not change their daily schedule). Items
    summarized from the user's own sources alone are charged to the sender's budget
    first (BudgetExceeded -> translated by the router); shared stories are free."""
    b = conv.services.briefings
    lang = await conv.lang(msg)
    own = await b.own_sources_cost(subject(msg), lang=lang)
    await conv.services.limits.spend(msg.user_id, own)
    await out.typing()
    parts = await b.briefing_now(
        subject(msg),
        lang=lang,
        tz=await _zone(conv, msg),
        private=msg.chat_type == "private",  # admins send /unsubscribe; members cannot tap it
    )
    sent: list[int] = []
    for html, buttons, stories in parts:
        sent += await out.send(Reply(html=html, buttons=buttons, kind="briefing"))
        if stories:  # a reply to the briefing asks about these stories
            await b.remember(msg.chat_id, sent, stories)


async def list_sources(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    b = conv.services.briefings
    lang = await conv.lang(msg)
    own = await b.own_sources(subject(msg))
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
    services = conv.services
    # each try fetches and parses a feed: it counts as a request against the user's
    # rate (RateLimited / BudgetExceeded -> translated by the router)
    await services.limits.reserve(msg.user_id)
    await out.typing()
    # BadInput / NotAFeed / BlockedAddress / FetchError -> translated by the router
    src = await services.briefings.add_source(subject(msg), url)
    await conv.say(msg, out, "briefing.source_added", name=src.name)


async def remove_source(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    if not await admin_only(conv, msg, out):
        return
    lang = await conv.lang(msg)
    own = await conv.services.briefings.own_sources(subject(msg))
    if not own:
        await conv.say(msg, out, "briefing.remove_none")
        return
    asked = msg.args.split()[0] if msg.args.split() else ""
    named = source_named(own, asked) if asked else None
    if named is not None:  # "/removesource <url>": that source, no buttons
        await conv.services.briefings.remove_source(subject(msg), named.id)
        await conv.say(msg, out, "briefing.source_removed", name=named.name)
        return
    key = "briefing.remove_unknown" if asked else "briefing.remove_choose"
    buttons = [[Button(f"✖ {s.name}"[:60], callback=f"{REMOVE_PREFIX}:{s.id}")] for s in own]
    html = plain_html(lang, t(lang, key))
    await out.send(Reply(html=html, buttons=buttons))


def source_named(own: list[Source], link: str) -> Source | None:
    """The source `link` names: its feed URL (normalized), else the only source on that
    site (the user may give the site's address they added, not the feed's)."""
    try:
        wanted = feed_id(link if "://" in link else f"https://{link}")
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
    removed = await conv.services.briefings.remove_source(subject(msg), source_id)
    if removed is None:
        await conv.button_notice(msg, out, "chat.expired")
        return
    await conv.say(msg, out, "briefing.source_removed", name=removed.name)


async def story_digest(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """A story's "full digest" button: summarize its lead article; it becomes active."""
    if msg.chat_type == "channel" and not await admin_only(conv, msg, out):
        return  # a reader's tap would post the digest to the whole channel
    aid = (msg.callback or "").split(":", 1)[-1]
    fa = await conv.services.briefings.story(aid)
    if fa is None:
        await conv.button_notice(msg, out, "briefing.story_gone")
        return
    article = fa.to_article()
    await digest_article(conv, msg, out, article)  # keeps it by id, for follow-ups


async def follow(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Follow a topic: its stories come first in the briefing."""
    await _topic(conv, msg, out, "follow")


async def mute(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Mute a topic: its stories are left out of the briefing."""
    await _topic(conv, msg, out, "mute")


async def unfollow(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    await _untopic(conv, msg, out, "unfollow")


async def unmute(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    await _untopic(conv, msg, out, "unmute")


async def _topic(conv: Conversation, msg: Incoming, out: Outbox, kind: str) -> None:
    if not msg.args.strip():
        await conv.say(msg, out, "briefing.topic_usage")
        return
    if not await admin_only(conv, msg, out):
        return
    b = conv.services.briefings
    add = b.follow if kind == "follow" else b.mute
    topic = await add(subject(msg), msg.args)  # BadTopic ... -> translated by the router
    await conv.say(msg, out, f"briefing.{kind}_done", topic=topic)


async def _untopic(conv: Conversation, msg: Incoming, out: Outbox, kind: str) -> None:
    if not msg.args.strip():
        await list_topics(conv, msg, out)
        return
    if not await admin_only(conv, msg, out):
        return
    b = conv.services.briefings
    remove = b.unfollow if kind == "unfollow" else b.unmute
    topic = await remove(subject(msg), msg.args)
    if topic is None:
        await conv.say(msg, out, f"briefing.{kind}_none", topic=" ".join(msg.args.split())[:60])
        return
    await conv.say(msg, out, f"briefing.{kind}_done", topic=topic)


async def list_topics(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """The followed and muted topics (anyone in the chat may look)."""
    lang = await conv.lang(msg)
    topics = await conv.services.briefings.topics(subject(msg))
    if topics.empty:
        await conv.say(msg, out, "briefing.topics_none")
        return
    lines: list[str] = []
    for header, group in (("follow", topics.follow), ("mute", topics.mute)):
        if group:
            if lines:
                lines.append("")
            lines.append(f"<b>{plain_html(lang, t(lang, f'briefing.topics_{header}_header'))}</b>")
            lines += [plain_html(lang, f"• {topic}") for topic in group]
    lines += ["", plain_html(lang, t(lang, "briefing.topics_hint"))]
    await out.send(Reply(html="\n".join(lines)))
