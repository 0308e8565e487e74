"""Every Redis key the bot uses, in one place, under one prefix.

Keys that Lua scripts or transactions touch together share a hash tag (`{...}`) so
they land in one slot on a Redis Cluster. Add new keys here, in the section of the
feature that owns them; never build key strings elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key builder bound to a prefix (settings.redis_prefix, a per-test prefix in tests)."""

    prefix: str = "digestbot"

    def _k(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(p) for p in parts)])

    def pattern(self) -> str:
        """Glob matching every key under this prefix (for tests and /forget audits)."""
        return f"{self.prefix}:*"

    # --- summarize: caches (TTL) --------------------------------------------
    def article(self, url_hash: str) -> str:
        """JSON of a fetched+extracted Article, per normalized URL (hours)."""
        return self._k("article", url_hash)

    def digest(self, cache_key: str) -> str:
        """JSON of a Digest, per sha256(text)+lang+length+model+prompt version (days)."""
        return self._k("digest", cache_key)

    def flight(self, cache_key: str) -> str:
        """Single-flight lock for one digest cache key."""
        return self._k("flight", cache_key)

    def flight_done(self, cache_key: str) -> str:
        """Pub/sub channel announcing a finished single-flight computation."""
        return self._k("flight-done", cache_key)

    def digest_ref(self, digest_id: str) -> str:
        """Short id -> digest reference (for 64-byte callback data)."""
        return self._k("ref", digest_id)

    def article_notes(self, article_id: str) -> str:
        """The notes the latest map-reduced digest of an article was written from (its
        reduce call's article message, within the input budget), per article id: the
        translations and follow-up answers about the article start with them too (the
        digest cache's days)."""
        return self._k("notes", article_id)

    # --- users (no TTL: user data) -----------------------------------------
    def user(self, user_id: int) -> str:
        """Hash of user preferences: lang, length, tz, chat_id ..."""
        return self._k("user", user_id)

    def users(self) -> str:
        """Set of every user id seen (for /stats and /forget)."""
        return self._k("users")

    # --- limits (TTL) ---------------------------------------------------------
    def rate(self, user_id: int, window: int) -> str:
        return self._k("rate", user_id, window)

    def tokens(self, user_id: int, day: str) -> str:
        return self._k("tokens", user_id, day)

    def rate_log(self, user_id: int) -> str:
        """Sorted set: the user's requests of the last minute (sliding window, bot.limits)."""
        return self._k("rate", user_id, "log")

    def command_log(self, user_id: int) -> str:
        """Sorted set: the user's commands of the last minute (the cheap-command limit,
        bot.limits.allow_command); a member "notice" marks the one "slow down" sent."""
        return self._k("rate", user_id, "cmd")

    def forget_log(self, user_id: int) -> str:
        """Sorted set: the user's /forget requests of the last hour (bot.limits)."""
        return self._k("rate", user_id, "forget")

    def user_counter_patterns(self, user_id: int) -> list[str]:
        """Globs of the user's per-user keys that /forget and the clean-up after a 403
        delete: briefing send marks, and the answered-message marks of their chat (on
        Telegram a private chat has the user's id). The usage counters (`rate:`, `tokens:`) are kept
        on purpose: they hold counts only, expire on their own within two days, and
        deleting them would hand a fresh rate window and token budget to anyone who
        sends /forget."""
        return [self._k("{sched}", "sent", user_id, "*"), self.handled(user_id, "*")]

    # --- stats (TTL 40 days, bot.stats) -------------------------------------------------
    def stat(self, name: str, day: str) -> str:
        """Daily counter: digests, cache_hits, cache_misses, llm_tokens, ..."""
        return self._k("stat", name, day)

    # --- follow-ups: chat context (TTL CONTEXT_TTL_DAYS) -----------------------
    # One hash tag per chat ({chat:<id>}): /reset deletes a chat's keys in one command,
    # which a Redis Cluster allows only within one slot.
    def chat_active(self, chat_id: int) -> str:
        return self._k(f"{{chat:{chat_id}}}", "active")

    def chat_message(self, chat_id: int, message_id: int) -> str:
        return self._k(f"{{chat:{chat_id}}}", "msg", message_id)

    def chat_history(self, chat_id: int, article_id: str) -> str:
        return self._k(f"{{chat:{chat_id}}}", "hist", article_id)

    def answer(self, cache_key: str) -> str:
        return self._k("answer", cache_key)

    def chat_index(self, chat_id: int) -> str:
        """Set of this chat's follow-up keys (message map, histories), so /reset finds them."""
        return self._k(f"{{chat:{chat_id}}}", "index")

    # --- feeds and stories ------------------------------------------------------
    def user_sources(self, user_id: int) -> str:
        return self._k("user", user_id, "sources")

    def user_sources_lock(self, user_id: int) -> str:
        """String (a holder's token, short TTL): taken while the user's own sources and
        their references in the poll registry change together (bot/briefings/registry.py)."""
        return self._k("user", user_id, "sources-lock")

    def feed_state(self, feed_hash: str) -> str:
        """Hash: etag, last_modified, failures, next_try."""
        return self._k("feed", feed_hash)

    def feed_seen(self, feed_hash: str) -> str:
        return self._k("feed", feed_hash, "seen")

    def feed_article(self, article_id: str) -> str:
        return self._k("farticle", article_id)

    def feed_articles(self) -> str:
        """Sorted set of feed article ids scored by published/ingested time."""
        return self._k("farticles")

    def story_summary(self, lead_key: str, lang: str) -> str:
        """A briefing item, per lead article summarized (`Story.lead_key`) and language."""
        return self._k("story", lead_key, lang)

    def story_update(self, lead_key: str, earlier_item: str, lang: str) -> str:
        """A briefing update item: what the story led by `lead_key` adds to the earlier
        item `earlier_item` (its text's hash), in `lang`; shared by every reader told
        that earlier item (issue 23)."""
        return self._k("story", lead_key, "after", earlier_item, lang)

    # --- story memory and topics per subscriber (issue 23) ------------------------
    def briefing_memory(self, subject: int) -> str:
        """Hash: story version told (its lead_key) -> JSON day, item, lead, before;
        expires BRIEFING_MEMORY_DAYS after its last write; /forget deletes it."""
        return self._k("memory", subject)

    def told_story(self, lead_key: str) -> str:
        """JSON of a story as a briefing told it (article ids, hashes, numbers, words),
        shared by every reader told it (TTL BRIEFING_MEMORY_DAYS + 1 day)."""
        return self._k("told", "story", lead_key)

    def told_item(self, item_id: str) -> str:
        """JSON of a told briefing item's text (lang, headline, bullets), per text hash."""
        return self._k("told", "item", item_id)

    def topics(self, subject: int) -> str:
        """Hash: "follow:<topic>" / "mute:<topic>" -> the topic as typed (no TTL: user
        data; /forget deletes it)."""
        return self._k("topics", subject)

    def poll_lock(self) -> str:
        return self._k("lock", "poll")

    def feed_registry(self) -> str:
        """Hash: feed id -> JSON source (name, url, language) of every feed some user has.
        Hash tag {feeds}: changed together with `feed_refs` in one script."""
        return self._k("{feeds}", "registry")

    def feed_refs(self, feed_hash: str) -> str:
        """Set of the user ids that have this feed among their own sources (its
        reference count); the feed leaves `feed_registry` when the set empties."""
        return self._k("{feeds}", "refs", feed_hash)

    def legacy_feed_registry(self) -> str:
        """The registry before reference counting (no users recorded); migrated once."""
        return self._k("feeds")

    def story_flight(self, lead_key: str, lang: str) -> str:
        """Lock so one process summarizes a story's lead in a language (others wait)."""
        return self._k("story", lead_key, lang, "flight")

    # --- subscriptions and delivery (one hash tag: {sched}) ----------------------
    def subscription(self, user_id: int) -> str:
        return self._k("{sched}", "sub", user_id)

    def due(self) -> str:
        """Sorted set: user id scored by next due UTC timestamp."""
        return self._k("{sched}", "due")

    def sent(self, user_id: int, local_date: str) -> str:
        """Idempotency key: briefing for this user and local date was (being) sent."""
        return self._k("{sched}", "sent", user_id, local_date)

    def broadcast_bucket(self) -> str:
        return self._k("{bcast}", "bucket")

    # --- webhook ------------------------------------------------------------
    def update_seen(self, update_id: int) -> str:
        return self._k("update", update_id)

    # --- edited messages (issue 22) ------------------------------------------------
    def handled(self, chat_id: int, message_id: int | str) -> str:
        """ "<edit time>:<content hash>" of the last content of a user's message the bot
        answered (TTL EDIT_MEMORY_HOURS): an edit is answered once per new content
        (bot/handled.py)."""
        return self._k("handled", chat_id, message_id)

    # --- groups, channels, inline mode (issue 12) ---------------------------------
    def chat_admin(self, chat_id: int, user_id: int) -> str:
        """ "1"/"0": whether the user administers the group (getChatMember, cached briefly)."""
        return self._k("admin", chat_id, user_id)

    def briefing_message(self, chat_id: int, message_id: int) -> str:
        """JSON list of the story article ids a sent briefing message holds, in order
        (TTL CONTEXT_TTL_DAYS): a reply to it asks about those stories."""
        return self._k(f"{{chat:{chat_id}}}", "brief", message_id)

    def chat_pace(self, chat_id: int) -> str:
        """Sorted set: the last minute's sends to a group or channel (per-chat pacing)."""
        return self._k("pace", chat_id)

    def inline_start(self, token: str) -> str:
        """The link an inline "summarize in the bot" button's /start parameter stands for."""
        return self._k("inline", token)
