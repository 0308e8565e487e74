"""Which chats take drafts (Bot API `sendMessageDraft`, 9.3+), and what a refusal means.

Drafts are for private chats only. A Bot API server that does not know the method (an
older server, or a local one not yet updated) answers 404 "Not Found" (python-telegram-bot
raises InvalidToken for it) or 400 "... method not found": that server takes no drafts,
so every chat goes back to edits. Any other 400 on a draft (but bad HTML, which is ours
to fix, and an empty text, below) refuses drafts for that chat only. Both are remembered
in this process, per Bot API server (its base URL), for as long as it runs: a restart asks
again, which costs one refused call per server.

An empty draft shows Telegram's "Thinking…"; Bot API 9.3–9.6 wanted 1–4096 characters
(10.0 made the text optional). A server that refuses the empty text keeps drafts; the
"typing" action stands in for "Thinking…" there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from telegram.error import BadRequest, InvalidToken, RetryAfter, TelegramError

Refusal = Literal["server", "chat", "empty", "html", "retry", "other"]


@dataclass
class DraftSupport:
    """What this process learned about one Bot API server's drafts."""

    server_refuses: bool = False
    empty_refused: bool = False
    refused_chats: set[int] = field(default_factory=set)

    def allows(self, chat_id: int) -> bool:
        return not self.server_refuses and chat_id not in self.refused_chats


_SUPPORT: dict[str, DraftSupport] = {}


def support_for(base_url: str) -> DraftSupport:
    """The drafts memory of the Bot API server at `base_url` (one per process)."""
    found = _SUPPORT.get(base_url)
    if found is None:
        if len(_SUPPORT) > 100:  # tests start many servers; a bot talks to one
            _SUPPORT.clear()
        found = _SUPPORT[base_url] = DraftSupport()
    return found


def refusal(exc: TelegramError) -> Refusal:
    """What a failed sendMessageDraft says about drafts."""
    if isinstance(exc, RetryAfter):
        return "retry"
    if isinstance(exc, InvalidToken):  # HTTP 404: the server has no such method
        return "server"
    if isinstance(exc, BadRequest):
        text = exc.message.lower()
        if "method" in text and "not found" in text:
            return "server"
        if "can't parse entities" in text or "unsupported start tag" in text:
            return "html"
        if "empty" in text or "must be non-empty" in text:
            return "empty"
        return "chat"
    return "other"
