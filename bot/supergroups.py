"""A group upgraded to a supergroup: everything the bot keeps under the group's id
moves to the supergroup's new id, so its members miss nothing.

Telegram gives the supergroup a new chat id and refuses messages to the old one ("group
chat was upgraded to a supergroup chat"). It announces the move twice, with a
`migrate_to_chat_id` service message in the old chat and a `migrate_from_chat_id` one
in the new; webhook replicas may see both at once. `move_chat` is safe to run for each:
every step moves only what is still under the old id (settings merged field by field,
the new chat's own win), so the second run finds nothing to move.

What moves (every key of bot/store/keys.py that holds the group's data):
* settings (`keys.user`: /language, /length, /timezone) and its membership of the
  users seen;
* the briefing subscription with its schedule, last briefing and today's send marks,
  story memory and followed/muted topics, and the group's own /addsource sources with
  their poll-registry references (bot/briefings: `Briefings.move_subscriber`);
* the follow-up context: the active article and the question histories (not the
  message map: the new chat numbers its messages afresh).

It also runs when a briefing finds the group upgraded before the bot handled the
service messages (Telegram refuses the old id with `migrate_to_chat_id`: the delivery's
`on_moved`, wired in bot/app.py).

Caches keyed by chat id that refill themselves (admin checks, the per-chat send pace)
and the briefing messages sent in the old chat (replies to them cannot reach the new
one) stay behind and expire.
"""

from __future__ import annotations

import logging

from bot.briefings import Briefings
from bot.followups import ChatContext
from bot.users import Users

log = logging.getLogger(__name__)


async def move_chat(
    old: int, new: int, *, users: Users, briefings: Briefings, context: ChatContext
) -> bool:
    """Move group `old`'s data to supergroup `new`; True when anything was left to move
    (False for the second announcement of the same upgrade)."""
    if old == new:
        return False
    settings = await users.move(old, new)
    subscribed, sources = await briefings.move_subscriber(old, new)
    threads = await context.move(old, new)
    moved = settings or subscribed or sources > 0 or threads > 0
    if moved:
        log.info(
            "group %s became supergroup %s: moved settings=%s subscription=%s sources=%d "
            "context keys=%d",
            old,
            new,
            settings,
            subscribed,
            sources,
            threads,
        )
    return moved
