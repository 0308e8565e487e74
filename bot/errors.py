"""Typed errors. Each user-facing error names its message key in the locale catalogs.

Core code raises these; users see them through ONE function, `bot.i18n.error_text(lang,
err)`, used by the chat router (Telegram and console) and the CLI. `detail` is an English
sentence for logs only and never reaches a user message; what the user reads is the
catalog message `key`, and, when the error says why, the catalog sentence
`reason.<reason>` (a machine code such as "scheme", "timeout", "http_status"). Never
put internal details (stack traces, addresses of our own servers, keys) into `params`.
"""

from __future__ import annotations

from typing import Any


class DigestBotError(Exception):
    """Base class. `key` is the catalog key for the user-facing message; `reason` (if
    any) names the catalog sentence `reason.<reason>` that says why, formatted with
    `params`; `detail` is for logs."""

    key = "error.internal"
    exit_code = 1
    default_reason = ""

    def __init__(self, detail: str = "", *, reason: str = "", **params: Any) -> None:
        super().__init__(detail or self.key)
        self.detail = detail
        self.reason = reason or self.default_reason
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
    default_reason = "network"


class BlockedAddress(FetchError):
    """The URL resolves to an address we refuse to fetch (SSRF guard)."""

    key = "error.blocked"
    default_reason = ""


class UnsupportedContent(FetchError):
    """The response is not HTML, XHTML or plain text; `params['content_type']` says what it was."""

    key = "error.content_type"
    default_reason = "content_other"


class TooLarge(FetchError):
    key = "error.too_large"
    default_reason = ""


class NotAnArticle(DigestBotError):
    """The page holds no extractable article text."""

    key = "error.not_article"
    exit_code = 2


class NotProse(NotAnArticle):
    """The text is long enough but is not prose: almost no letters, or a handful of
    words repeated (a page of "x" lines, one endless word, a table of numbers)."""

    key = "error.not_prose"


class LLMError(DigestBotError):
    """The LLM failed after retries (down, timeouts, garbage). Callers fall back to extractive.

    `usage` (a `bot.llm.client.Usage`, or None), given to the constructor, is what the
    failed work had already cost, so callers can still charge it to the budget and the
    stats.
    """

    key = "error.llm"

    def __init__(self, detail: str = "", *, usage: Any = None, reason: str = "", **params: Any):
        super().__init__(detail, reason=reason, **params)
        self.usage = usage

    def spent(self, usage: Any) -> LLMError:
        """This error made again (same type, detail and reason), carrying `usage`: what
        the failed work had cost up to it, for a caller that counted more than the
        step that raised it."""
        return type(self)(self.detail, usage=usage, reason=self.reason, **self.params)


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


class BadTopic(BadInput):
    """`/follow`, `/mute` ... got no words to match."""

    key = "briefing.topic_usage"


class TopicTooLong(BadInput):
    """A topic longer than `params['limit']` characters."""

    key = "briefing.topic_too_long"


class TooManyTopics(BadInput):
    """The subscriber already has `params['limit']` topics."""

    key = "briefing.topics_full"


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
