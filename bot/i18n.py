"""User-facing strings: one TOML catalog per language in `bot/locales/`.

`t(lang, "error.fetch", url=...)` looks up a dotted key and formats it with
`str.format`. Both catalogs must hold the same keys and placeholders (a test checks).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any, Literal

Lang = Literal["ar", "en"]
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


def lang_from_code(language_code: str | None) -> Lang:
    """Telegram's `language_code` to our UI language: ar… is Arabic, anything else English."""
    return "ar" if (language_code or "").lower().startswith("ar") else "en"
