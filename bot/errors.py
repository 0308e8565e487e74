"""Typed errors. Each user-facing error names its message key in the locale catalogs.

Core code raises these; the CLI, the console and the Telegram layer translate them
with `bot.i18n.t(lang, err.key, **err.params)` in one place each. Never put internal
details (stack traces, addresses of our own servers, keys) into `params`.
"""

from __future__ import annotations

from typing import Any


class DigestBotError(Exception):
    """Base class. `key` is the catalog key for the user-facing message."""

    key = "error.internal"
    exit_code = 1

    def __init__(self, detail: str = "", **params: Any) -> None:
        super().__init__(detail or self.key)
        self.detail = detail
        self.params = params


class ConfigError(DigestBotError):
    """A bad setting. The message is one line naming the setting."""

    key = "error.config"
    exit_code = 2


class BadInput(DigestBotError):
    """The user's input is not a URL, file, or usable text."""

    key = "error.bad_input"
    exit_code = 2


class TextTooShort(BadInput):
    key = "error.too_short"


class FetchError(DigestBotError):
    """The page could not be fetched (network, HTTP status, timeout, too many redirects)."""

    key = "error.fetch"
    exit_code = 2


class BlockedAddress(FetchError):
    """The URL resolves to an address we refuse to fetch (SSRF guard)."""

    key = "error.blocked"


class UnsupportedContent(FetchError):
    """The response is not HTML, XHTML or plain text; `params['content_type']` says what it was."""

    key = "error.content_type"


class TooLarge(FetchError):
    key = "error.too_large"


class NotAnArticle(DigestBotError):
    """The page holds no extractable article text."""

    key = "error.not_article"
    exit_code = 2


class LLMError(DigestBotError):
    """The LLM failed after retries (down, timeouts, garbage). Callers fall back to extractive."""

    key = "error.llm"


class RateLimited(DigestBotError):
    """The user is over a limit; `params['seconds']` is the wait."""

    key = "error.rate_limited"
    exit_code = 2


class BudgetExceeded(RateLimited):
    key = "error.budget"


class StoreUnavailable(DigestBotError):
    """Redis is unreachable."""

    key = "error.store"


# --- briefings (keys under `briefing.*`) ----------------------------------------


class BadTime(BadInput):
    """`/subscribe` got something that is not a HH:MM time."""

    key = "briefing.bad_time"


class BadTimezone(BadInput):
    """`/timezone` got something that is not an IANA zone name; `params['zone']`."""

    key = "briefing.bad_timezone"


class NotAFeed(BadInput):
    """`/addsource`: the URL is neither an RSS/Atom feed nor a page that links to one."""

    key = "briefing.not_feed"


class TooManySources(BadInput):
    """`/addsource`: the user already has `params['limit']` sources of their own."""

    key = "briefing.too_many_sources"


class NoActiveArticle(DigestBotError):
    """A follow-up question arrived but the chat has no (unexpired) article to ask about."""

    key = "followup.no_active_article"
    exit_code = 2
