"""The JSON schema of a digest, as asked of the model (structured output)."""

from __future__ import annotations

from typing import Any

from bot.summarize import shape

_STR_LIST = {"type": "array", "items": {"type": "string"}}


def digest_schema(want: shape.Range) -> dict[str, Any]:
    """The JSON schema of a digest with `want` bullets, each citing sentence ids."""
    bullet = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "sources": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["text", "sources"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "headline": {"type": "string"},
            "bullets": {
                "type": "array",
                "items": bullet,
                "minItems": want.lo,
                "maxItems": want.hi,
            },
            "questions": {**_STR_LIST, "minItems": 3, "maxItems": 3},
        },
        "required": ["headline", "bullets", "questions"],
        "additionalProperties": False,
    }
