"""`/channel @name [HH:MM|off]`: a channel's admin manages its briefing from a private chat.

The bot must be an administrator of the channel (so it can post there), and so must
the user: both checked with getChatAdministrators (`Conversation.members`). The
channel then subscribes under its own id, as a `/subscribe` posted in the channel
would; `off` unsubscribes it. The channel's language and zone are its own settings
(`/language`, `/timezone` posted in the channel); until set, the admin's are used.
"""

from __future__ import annotations

from bot.briefings import check_time, format_hhmm
from bot.chat.router import Conversation
from bot.messages import Incoming, Outbox

OFF = ("off", "stop", "إيقاف", "الغاء", "إلغاء")


def register(conv: Conversation) -> None:
    conv.command("channel", channel, description="group.cmd_channel")


async def channel(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    words = msg.args.split()
    if msg.chat_type != "private" or not words or conv.members is None:
        await conv.say(msg, out, "group.channel_usage")
        return
    name, rest = words[0], " ".join(words[1:])
    at = None if rest.lower() in OFF else check_time(rest)  # BadTime -> router
    found = await conv.members.channel_admins(name if name.startswith(("@", "-")) else "@" + name)
    if found is None:
        await conv.say(msg, out, "group.channel_unknown")
        return
    channel_id, admins = found
    if msg.user_id not in admins:
        await conv.say(msg, out, "group.channel_not_admin")
        return
    briefings = conv.services.briefings
    if at is None:
        removed = await briefings.unsubscribe(channel_id)
        await conv.say(msg, out, "group.unsubscribed" if removed else "group.not_subscribed")
        return
    prefs = await conv.services.users.prefs(channel_id)
    mine = await conv.services.users.prefs(msg.user_id, msg.language_code)
    sub = await briefings.subscribe(
        channel_id,
        channel_id,
        at,
        tz=await briefings.timezone_of(channel_id, mine.tz),
        lang=prefs.lang if prefs.lang_set else mine.lang,
        kind="channel",
    )
    await conv.say(
        msg, out, "group.channel_subscribed", channel=name, time=format_hhmm(sub.hhmm), zone=sub.tz
    )
