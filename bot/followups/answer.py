"""What a follow-up answer is: the `Answer` the service returns, and the JSON the
model is asked for (schemas and their validating models)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from bot.domain import Lang

AnswerPath = Literal["llm", "cache", "passages", "unavailable"]

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "sources": {"type": "array", "items": {"type": "integer"}},
        "found": {"type": "boolean"},
    },
    "required": ["answer", "sources", "found"],
    "additionalProperties": False,
}

KEYWORDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"keywords": {"type": "array", "items": {"type": "string"}}},
    "required": ["keywords"],
    "additionalProperties": False,
}


class Answer(BaseModel):
    """An answer to a follow-up question.

    `path`: "llm" (fresh model answer), "cache" (the same normalized question was
    answered before about the same article in the same language, in any chat; a short
    follow-up such as "and when?" only after the same question), "passages" (no LLM configured: `passages` holds the top article
    passages and `text` their concatenation), "unavailable" (the LLM failed: `text` is
    the localized apology and `passages` the top passages as a fallback).
    `sources` are the ids of the article sentences (`evidence.number_sentences`) the
    answer rests on and `quote` their text as shown to the user, both only when the
    answer checked out against them (`verified`, see `grounding.py`); an answer that
    did not, even after one corrective retry, has `verified` False and no quote, and is
    shown marked unverified. An answer that stops mid-sentence (or holds JSON debris)
    even after the retry is never shown: `text` is then the article's own sentence(s)
    it rests on, with `from_article` set (shown with a note). `not_in_article` means the article does not say, and
    `text` is then exactly the catalog sentence. `tokens` is what the LLM calls cost,
    failed and retried ones included (0 unless path is "llm" or "unavailable"), for
    the per-user budget.
    """

    text: str
    quote: str | None = None
    sources: list[int] = Field(default_factory=list)
    verified: bool = False
    not_in_article: bool = False
    path: AnswerPath
    article_id: str
    lang: Lang
    tokens: int = 0
    tokens_cached: int = 0  # of `tokens`, prompt tokens the server read from its cache
    passages: list[str] = Field(default_factory=list)
    from_article: bool = False  # the model's answer stayed cut off: `text` is the article's


class Keywords(BaseModel):
    keywords: list[str] = Field(default_factory=list)


class ModelAnswer(BaseModel):
    answer: str = ""
    sources: list[int] = Field(default_factory=list)
    found: bool = True

    @field_validator("sources", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> list[int]:
        """Lenient: a single id, ids as strings ("3", "[3]"), junk dropped."""
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            raw = str(item).strip("[] ") if isinstance(item, int | str) else ""
            if not isinstance(item, bool) and raw.isdigit():
                out.append(int(raw))
        return out
