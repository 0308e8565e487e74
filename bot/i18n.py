"""User-facing strings: one TOML catalog per language in `bot/locales/`.

`t(lang, "error.fetch", url=...)` looks up a dotted key and formats it with
`str.format`. Both catalogs must hold the same keys and placeholders (a test checks).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from bot.domain import Lang

if TYPE_CHECKING:
    from bot.errors import DigestBotError

LANGS: tuple[Lang, ...] = ("ar", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = str(value)
    return out


@cache
def catalog(lang: Lang) -> dict[str, str]:
    """Return the flattened catalog for `lang` (dotted keys)."""
    text = resources.files("bot.locales").joinpath(f"{lang}.toml").read_text("utf-8")
    return _flatten(tomllib.loads(text))


def t(lang: str, key: str, **params: Any) -> str:
    """Translate `key` into `lang` (falls back to English, then to the key itself)."""
    code: Lang = "ar" if lang == "ar" else "en"
    template = catalog(code).get(key) or catalog("en").get(key) or key
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def error_text(lang: str, err: DigestBotError) -> str:
    """The user-facing message for a typed error, in `lang` (the one place errors are
    translated: chat replies, the console and the CLI all call this).

    The message is the catalog text `err.key` formatted with `err.params`. When the
    error has a `reason`, its catalog sentence `reason.<reason>` fills the `{reason}`
    placeholder of that text, or, when the text has none, is the whole message. The
    English `err.detail` is never used (it is for logs). Never raises.
    """
    code: Lang = "ar" if lang == "ar" else "en"
    if err.key == "error.internal":
        return t(code, "error.internal")
    params: dict[str, Any] = dict(err.params)
    reason_key = f"reason.{err.reason}" if err.reason else ""
    if reason_key and reason_key in catalog("en"):
        sentence = t(code, reason_key, **params)
        template = catalog(code).get(err.key) or catalog("en").get(err.key) or ""
        if "{reason}" not in template:
            return sentence
        params["reason"] = sentence
    else:
        params.setdefault("reason", t(code, "reason.unknown"))
    return t(code, err.key, **params)


def lang_from_code(language_code: str | None) -> Lang:
    """Telegram's `language_code` to our UI language: ar… is Arabic, anything else English."""
    return "ar" if (language_code or "").lower().startswith("ar") else "en"
