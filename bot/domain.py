"""Plain data shared by the services: no I/O here.

Pydantic models so they round-trip through the Redis caches as JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

Lang = Literal["ar", "en"]
Length = Literal["short", "detailed"]
SourceKind = Literal["url", "text"]  # a link to fetch, or the article's own text
DigestPath = Literal["llm", "extractive"]


class Article(BaseModel):
    """An extracted article. `text` is the cleaned body, paragraphs separated by blank lines."""

    text: str
    title: str | None = None
    url: str | None = None
    site_name: str | None = None
    author: str | None = None
    published: date | None = None
    language: Lang = "ar"
    partial: bool = False
    source_kind: SourceKind = "text"
    # How this copy was read (not cached, not stored): what each PDF page gave (its
    # "text" layer, "ocr", or "none"), and the pages and seconds OCR took. A reader
    # fills them in its worker process; bot/readers/reading.py counts them.
    pdf_pages: list[Literal["text", "ocr", "none"]] = Field(default_factory=list, exclude=True)
    ocr_pages: int = Field(default=0, exclude=True)
    ocr_seconds: float = Field(default=0.0, exclude=True)

    @property
    def id(self) -> str:
        """Stable id: sha256 of the normalized body (pasted text and URLs share it)."""
        return text_hash(self.text)[:20]

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.text.split("\n\n") if p.strip()]


class Digest(BaseModel):
    """A finished digest of one article, in one language and length."""

    headline: str
    bullets: list[str]
    questions: list[str] = Field(default_factory=list)
    lang: Lang
    length: Length = "short"
    path: DigestPath = "llm"
    cached: bool = False
    article_id: str
    title: str | None = None
    url: str | None = None
    site_name: str | None = None
    published: date | None = None
    age_days: int | None = None
    old: bool = False
    partial: bool = False
    cut: bool = False  # a long article's end was left out (SUMMARY_MAX_PARTS)
    translation_note: bool = False
    unverified_dropped: int = 0
    # evidence: per bullet, the ids of the article sentences it rests on, and their text
    sources: list[list[int]] = Field(default_factory=list)
    quotes: list[str] = Field(default_factory=list)
    translated: bool = False  # translated from the digest in the article's language
    # what the checks found and repaired (bullets_raw, supported_raw, recited, ...)
    quality: dict[str, int] = Field(default_factory=dict)
    model: str | None = None
    prompt_version: str | None = None
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0  # of tokens_in, read from the LLM server's prefix cache


@dataclass(frozen=True)
class Cost:
    """What a piece of LLM work cost, as a value: calls made and tokens spent (failed
    calls included). Add two with `+`."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0  # of tokens_in, read from the server's prefix cache

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.calls + other.calls,
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.tokens_cached + other.tokens_cached,
        )

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True)
class Partial:
    """What a streaming model has written so far, in complete pieces only: a digest's
    headline and its finished bullets, or a follow-up answer's finished text."""

    lang: Lang
    headline: str = ""
    bullets: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Stage:
    """Progress of one request: `name` is fetching | extracting | summarizing | combining,
    or writing (`partial` holds what the model has written so far)."""

    name: str
    part: int = 0
    total: int = 0
    partial: Partial | None = None


Progress = Callable[[Stage], Awaitable[None]]


def text_hash(text: str) -> str:
    """sha256 hex of whitespace-collapsed text (the digest-cache identity of an article)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()
