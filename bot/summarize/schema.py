"""The JSON schema of a digest, as asked of the model (structured output)."""

from __future__ import annotations

from typing import Any

from bot.summarize import shape


def digest_schema(want: shape.Range, lang: str = "ar") -> dict[str, Any]:
    """The JSON schema of a digest in `lang` with `want` bullets, each citing sentence
    ids (English text fields: Arabic script only inside parentheses, `text_field`)."""
    text = text_field(lang)
    bullet = {
        "type": "object",
        "properties": {
            "text": text,
            "sources": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["text", "sources"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "headline": text,
            "bullets": {
                "type": "array",
                "items": bullet,
                "minItems": want.lo,
                "maxItems": want.hi,
            },
            # five asked (prompts/summarize.md), three shown: spares for the checks
            "questions": {"type": "array", "items": text, "minItems": 3, "maxItems": 5},
        },
        "required": ["headline", "bullets", "questions"],
        "additionalProperties": False,
    }


# An English (Latin-script) field: Arabic letters only inside parentheses, where a name
# keeps the article's spelling. llama.cpp, vLLM and OpenAI honour `pattern` in structured
# output, so the model cannot answer an English field in Arabic there. No `"` nor `\\`:
# llama.cpp applies a pattern to the raw JSON text of the string, so a class that
# allows `"` lets the model end the string early (measured: HTTP 500, "does not match
# the expected peg-native format", on an unescaped "diplomatic route").
LATIN_TEXT = r'^([^\u0600-\u06FF()"\\]|\([^()"\\]*\))*$'


def text_field(lang: str) -> dict[str, Any]:
    """A string field written in `lang` (English: Arabic script only in parentheses)."""
    return {"type": "string", "pattern": LATIN_TEXT} if lang == "en" else {"type": "string"}
