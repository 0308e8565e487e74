"""Groups and channels: whose settings a command changes, and who may change them.

In a private chat a command acts on the user. In a group or a channel the chat itself
is the subscriber (its id, negative on Telegram, is the subscription's and the
preferences' id), so `/subscribe`, `/unsubscribe`, `/timezone` and `/language` there
change the chat's settings, and only its administrators may send them:

* a channel post comes from the channel's admins by definition (only they can post);
  a button press under a channel post or a group message comes from any reader (with
  any callback data it likes), and is checked like a command from a member;
* in a group, an anonymous admin writes as the group itself (`sender_chat` = the
  group), which counts as an admin; anyone else is checked with getChatMember
  (`Conversation.members`, given by the Telegram layer), the answer cached in Redis
  for CHAT_ADMIN_CACHE_SECONDS so a burst of commands costs one Bot API call.

Anyone else gets a short polite refusal in the group's language (a toast, for a
button press).
"""

from __future__ import annotations

import logging

from bot.chat.router import Conversation
from bot.messages import Incoming, Outbox

log = logging.getLogger(__name__)


def subject(msg: Incoming) -> int:
    """The id whose settings a command changes: the user in a private chat, else the
    group or channel."""
    return msg.user_id if msg.chat_type == "private" else msg.chat_id


async def sender_is_admin(conv: Conversation, msg: Incoming) -> bool:
    """Whether the sender may change the chat's settings (always, in a private chat)."""
    if msg.chat_type == "private":
        return True
    if msg.chat_type == "channel" and msg.callback is None:
        return True  # a channel post: only the channel's admins can post
    if msg.sender_chat_id == msg.chat_id:
        return True  # an anonymous administrator writes as the group itself
    if msg.user_id < 0:
        return False  # a channel posting in the group (its own admins are unknown here)
    members = conv.members
    if members is None:
        return False
    users = conv.services.users
    cached = await users.known_admin(msg.chat_id, msg.user_id)
    if cached is not None:
        return cached
    try:
        admin = await members.is_admin(msg.chat_id, msg.user_id)
    except Exception:  # the Bot API is down: refuse, and do not remember it
        log.warning("getChatMember failed for chat %s", msg.chat_id, exc_info=True)
        return False
    await users.remember_admin(msg.chat_id, msg.user_id, admin)
    return admin


async def admin_only(conv: Conversation, msg: Incoming, out: Outbox) -> bool:
    """True when the sender may change the chat's settings; else the refusal: to a
    button press a toast only the presser sees (a message in a group or a channel
    would be posted to all), to a command a reply in the chat."""
    if await sender_is_admin(conv, msg):
        return True
    if msg.callback is not None:
        await conv.toast(msg, out, "group.admins_only_toast")
    elif msg.chat_type != "channel":
        await conv.say(msg, out, "group.admins_only")
    return False
