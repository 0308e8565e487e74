"""Logging set-up: text or JSON lines, and secrets never written.

`setup_logging(settings)` installs one handler on the root logger. A filter redacts
every secret value from settings (bot token, API key, webhook secret, metrics token,
the Redis password) in each record. Control characters in a record's message (a
newline in a command argument or a feed title) are escaped, so no input can forge a
log line; a traceback keeps its own line breaks.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from urllib.parse import quote

from bot.config import Settings

update_id_var: ContextVar[int | None] = ContextVar("update_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("user_id", default=None)


class ContextFilter(logging.Filter):
    """Stamp each record with the update id and user id being handled (contextvars)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.update_id = update_id_var.get()
        record.user_id = user_id_var.get()
        return True


# C0/C1 controls but tab, the Unicode line/paragraph separators, and the bidi
# embedding/override/isolate controls (they can reorder how a log line displays)
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def escape_controls(text: str) -> str:
    """`text` with control characters written as escapes (`\\n`, `\\r`, `\\x1b`, `\\u2028`)."""

    def sub(m: re.Match[str]) -> str:
        ch = m.group()
        if ch in _NAMED:
            return _NAMED[ch]
        return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"

    return _CONTROLS.sub(sub, text)


class EscapingFilter(logging.Filter):
    """Escape control characters in each record's message (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the formatter reports it as before
            return True
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


class RedactingFormatter(logging.Formatter):
    """Wrap a formatter and replace every secret in the finished line with `***`.

    Redacting the whole formatted line (message, arguments, traceback, exception text)
    is what keeps a token out of the logs when it hides in an exception's message.
    """

    def __init__(self, inner: logging.Formatter, secrets: list[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            line = line.replace(secret, "***")
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "update_id": getattr(record, "update_id", None),
            "user_id": getattr(record, "user_id", None),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    from bot.store.redis import redis_passwords

    token = settings.telegram_bot_token
    # a file URL's path is percent-encoded (":" -> "%3A") before PTB downloads it
    secrets = [token, quote(token, safe=""), settings.openai_api_key, settings.webhook_secret]
    secrets += [getattr(settings, "metrics_token", "") or ""]
    secrets += redis_passwords(settings.redis_url)
    handler.addFilter(ContextFilter())
    handler.addFilter(EscapingFilter())
    inner: logging.Formatter = (
        JsonFormatter()
        if settings.log_format == "json"
        else logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [u=%(update_id)s user=%(user_id)s] %(message)s"
        )
    )
    handler.setFormatter(RedactingFormatter(inner, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # httpx logs full request URLs, which contain the bot token: keep it quiet.
    for noisy in (
        "httpx",
        "httpx2",
        "httpcore",
        "openai",
        "apscheduler",
        "trafilatura",
        "htmldate",
        "courlan",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
