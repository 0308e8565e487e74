"""Which content of a user's message the bot already answered, so an edit is answered
once per new content (Bot API `edited_message`, issue 22).

One key per message (`keys.handled(chat, message)`, TTL EDIT_MEMORY_HOURS) holds
"<edit time>:<content hash>" of the last content answered, written by one Lua call that
decides too, so two processes (webhook replicas) or a repeated delivery cannot both
answer:

* a new message is claimed only when nothing is recorded for it (a repeat, or its own
  edit handled first, finds the key and is dropped);
* an edit is claimed when its content differs from the recorded one and it is not
  older than it (edits handled out of order: the last one wins, the earlier is
  dropped); an edit of a message never answered (not addressed to the bot before, or
  forgotten after the TTL) is answered once;
* the same content again (an edit that only changed formatting, a second identical
  edit, a link with only its comment changed: see bot/chat/edits.py) is dropped.

What counts as the same content is the chat layer's call (`bot/chat/edits.py:material`);
this module keeps only its hash.
"""

from __future__ import annotations

import hashlib

from bot.store.redis import Store

# KEYS[1] the message's key; ARGV edit time (0: a new message), content hash, TTL seconds.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur then
  if ARGV[1] == '0' then return 0 end
  local at, h = string.match(cur, '^(%d+):(.*)$')
  if h == ARGV[2] or (at and tonumber(at) > tonumber(ARGV[1])) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


class HandledMessages:
    """Claims a message's content for one answer."""

    def __init__(self, store: Store, ttl_seconds: int) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds

    async def claim(
        self, chat_id: int, message_id: int, content: str, *, edited_at: int | None
    ) -> bool:
        """True when this process should answer message `message_id` of `chat_id` now
        saying `content` (`edited_at`: its edit time, None for a new message); the
        content is then recorded as answered. False: already answered (or a later edit
        was)."""
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
        key = self.store.keys.handled(chat_id, message_id)
        at = str(max(1, edited_at)) if edited_at is not None else "0"
        return bool(await self.store.redis.eval(_CLAIM, 1, key, at, digest, self.ttl_seconds))
