"""What a follow-up answer is: the `Answer` the service returns, and the JSON the
model is asked for (schemas and their validating models)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.domain import Lang

AnswerPath = Literal["llm", "cache", "passages", "unavailable"]

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "quote": {"type": "string"},
        "found": {"type": "boolean"},
    },
    "required": ["answer", "quote", "found"],
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
    `quote` is the article sentence the answer relies on, only when it was found in the
    article (`verified`); `not_in_article` means the article does not say, and `text`
    is then exactly the catalog sentence. `tokens` is what the LLM call cost (0 unless
    path == "llm"), for the per-user budget.
    """

    text: str
    quote: str | None = None
    verified: bool = False
    not_in_article: bool = False
    path: AnswerPath
    article_id: str
    lang: Lang
    tokens: int = 0
    passages: list[str] = Field(default_factory=list)


class Keywords(BaseModel):
    keywords: list[str] = Field(default_factory=list)


class ModelAnswer(BaseModel):
    answer: str = ""
    quote: str = ""
    found: bool = True
