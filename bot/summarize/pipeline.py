"""The LLM path of a digest: prompts, map-reduce for long articles, and the guards.

`LLMSummarizer.summarize(article, lang=..., length=...)` returns an `LLMDraft` or raises
`LLMError` when the LLM cannot give a usable digest (down, timing out, invalid JSON twice,
wrong language twice, no verifiable bullet); the service then falls back to the
extractive summarizer.

The article always travels in the USER message between <article> and </article> (any
such tag inside the text is defused), never in the system prompt. An article whose
prompt would exceed `max_input_tokens` is split at paragraph boundaries; each part is
noted by one "map" call and one "reduce" call writes the digest from the notes, so the
cost grows linearly with the length and every request stays under the budget.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator

from bot.domain import Article, Lang, Length, Progress, Stage
from bot.llm.chunks import split_to_budget
from bot.llm.client import LLMClient, LLMOutputError, Usage
from bot.llm.prompts import combined_version, load_prompt
from bot.llm.tokens import count_tokens
from bot.summarize.guards import all_unsupported, language_ok, source_number_keys

log = logging.getLogger(__name__)

BULLET_RANGE: dict[str, tuple[int, int]] = {"short": (3, 5), "detailed": (6, 10)}
LANGUAGE_NAMES: dict[str, str] = {"ar": "Arabic (العربية)", "en": "English"}
LENGTH_NAMES: dict[str, str] = {"short": "short", "detailed": "detailed"}
MAP_POINTS = 8
MAP_CONCURRENCY = 3
MAX_ROUNDS = 3  # rounds of re-noting notes too long for one reduce call
OUTPUT_TOKENS = {"short": 700, "detailed": 1300}
PROMPTS = (
    "summarize",
    "summarize_user",
    "summarize_map",
    "summarize_map_user",
    "summarize_reduce",
    "summarize_retry_numbers",
    "summarize_retry_language",
    "summarize_retry_json",
    "json_only",
)

_STR_LIST = {"type": "array", "items": {"type": "string"}}
DIGEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"headline": {"type": "string"}, "bullets": _STR_LIST, "questions": _STR_LIST},
    "required": ["headline", "bullets", "questions"],
    "additionalProperties": False,
}
NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"points": _STR_LIST},
    "required": ["points"],
    "additionalProperties": False,
}


def prompt_version() -> str:
    """Version of the summarize prompts together (part of the digest cache key)."""
    return combined_version(*PROMPTS)


class DigestOut(BaseModel):
    """The model's structured reply, validated."""

    headline: str
    bullets: list[str]
    questions: list[str] = []

    @field_validator("headline")
    @classmethod
    def _headline(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("empty headline")
        return v

    @field_validator("bullets", "questions")
    @classmethod
    def _items(cls, v: list[str]) -> list[str]:
        return [" ".join(s.split()).lstrip("-•* ") for s in v if s and s.strip()]


class NotesOut(BaseModel):
    points: list[str]


@dataclass
class LLMDraft:
    """What the LLM path produced, after the guards."""

    headline: str
    bullets: list[str]
    questions: list[str]
    usage: Usage = field(default_factory=Usage)
    dropped: int = 0


def defuse(text: str, tag: str) -> str:
    """Return `text` with every <tag> / </tag> look-alike made inert (‹tag›), so article
    text cannot close its own delimiter."""
    return re.sub(rf"<(\s*/?\s*{tag})(\s*)>?", "‹\\1\\2›", text, flags=re.I)


def article_block(article: Article, text: str | None = None) -> str:
    """The article as delimited data: title line, then body, between <article> tags."""
    body = text if text is not None else article.text
    head = f"{article.title}\n\n" if article.title else ""
    return f"<article>\n{defuse(head + body, 'article')}\n</article>"


def _count_failed(exc: Exception, usage: Usage) -> None:
    """Add the cost of a reply that failed validation (the call was still made)."""
    spent = getattr(exc, "usage", None)
    if isinstance(spent, Usage):
        usage.add(spent)


class LLMSummarizer:
    """Writes a digest with the LLM: single call or map-reduce, then the guards."""

    def __init__(self, llm: LLMClient, *, max_input_tokens: int) -> None:
        self.llm = llm
        self.max_input_tokens = max_input_tokens

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def _overhead(system: str, user: str) -> int:
        """Tokens of everything in a request except the article text, with room for the
        longest correction and the JSON-schema note a refusing server needs."""
        extras = [
            load_prompt("summarize_retry_numbers").render(numbers="0000, " * 12),
            load_prompt("summarize_retry_language").render(language="Arabic (العربية)"),
            load_prompt("summarize_retry_json").text,
        ]
        schema_note = load_prompt("json_only").render(schema=str(DIGEST_SCHEMA))
        return (
            count_tokens(system)
            + count_tokens(user)
            + max(count_tokens(e) for e in extras)
            + count_tokens(schema_note)
            + 64  # roles, delimiters, title line
        )

    async def summarize(
        self,
        article: Article,
        *,
        lang: Lang,
        length: Length,
        progress: Progress | None = None,
    ) -> LLMDraft:
        """Return the guarded LLM digest of `article`; raise LLMError to ask for fallback."""
        usage = Usage()
        lo, hi = BULLET_RANGE[length]
        params = {
            "language": LANGUAGE_NAMES[lang],
            "length_name": LENGTH_NAMES[length],
            "min_bullets": lo,
            "max_bullets": hi,
        }
        system = load_prompt("summarize").render(**params)
        user = load_prompt("summarize_user").render(**params)
        budget = self.max_input_tokens - self._overhead(system, user)
        title_cost = count_tokens(article.title or "")
        if count_tokens(article.text) + title_cost <= budget:
            if progress:
                await progress(Stage("summarizing", 1, 1))
            block = article_block(article)
        else:
            text = (f"{article.title}\n\n" if article.title else "") + article.text
            notes = await self._map(text, lang=lang, usage=usage, progress=progress)
            if progress:
                await progress(Stage("combining"))
            probe = load_prompt("summarize_reduce").render(total=999, **params)
            notes = await self._condense(
                notes,
                budget=self.max_input_tokens - self._overhead(system, probe),
                lang=lang,
                usage=usage,
            )
            user = load_prompt("summarize_reduce").render(total=len(notes), **params)
            block = "<notes>\n" + defuse("\n\n".join(notes), "notes") + "\n</notes>"
        source = article.text + "\n" + (article.title or "")
        if article.published:
            d = article.published
            source += f"\n{d.isoformat()} {d.day} {d.month} {d.year}"
        return await self._final(
            system=system,
            user=f"{user}\n\n{block}",
            source_keys=source_number_keys(source),
            lang=lang,
            length=length,
            usage=usage,
            title=article.title,
        )

    async def _condense(
        self, notes: list[str], *, budget: int, lang: Lang, usage: Usage
    ) -> list[str]:
        """Return notes that fit `budget` tokens: notes too long for one reduce call are
        noted again (at most MAX_ROUNDS times), then cut at a part boundary if needed."""
        for _ in range(MAX_ROUNDS):
            if count_tokens("\n\n".join(notes)) <= budget or len(notes) == 1:
                break
            notes = await self._map("\n\n".join(notes), lang=lang, usage=usage, progress=None)
        kept: list[str] = []
        used = 0
        for note in notes:
            cost = count_tokens(note) + 2
            if kept and used + cost > budget:
                log.warning("map-reduce: notes still over budget; keeping %d parts", len(kept))
                break
            kept.append(note)
            used += cost
        return kept

    async def _map(
        self, text: str, *, lang: Lang, usage: Usage, progress: Progress | None
    ) -> list[str]:
        """Note every part of a long text; return one notes text per part, in order."""
        system = load_prompt("summarize_map").render(
            language=LANGUAGE_NAMES[lang], max_points=MAP_POINTS
        )
        user_probe = load_prompt("summarize_map_user").render(part=999, total=999)
        budget = max(self.max_input_tokens - self._overhead(system, user_probe), 100)
        parts = split_to_budget(text, budget)
        total = len(parts)
        gate = asyncio.Semaphore(MAP_CONCURRENCY)

        async def one(index: int, part: str) -> str:
            async with gate:
                if progress:
                    await progress(Stage("summarizing", index + 1, total))
                user = load_prompt("summarize_map_user").render(part=index + 1, total=total)
                user += "\n\n<article>\n" + defuse(part, "article") + "\n</article>"
                for attempt in (1, 2):
                    try:
                        data, u = await self.llm.complete_json(
                            system=system,
                            user=user,
                            schema_name="notes",
                            schema=NOTES_SCHEMA,
                            max_tokens=500,
                        )
                        usage.add(u)
                        points = NotesOut.model_validate(data).points
                        return f"({index + 1}/{total})\n" + "\n".join(f"- {p}" for p in points)
                    except (LLMOutputError, ValidationError) as exc:
                        _count_failed(exc, usage)
                        if attempt == 2:
                            raise LLMOutputError("invalid notes from the model") from None
                        user += "\n\n" + load_prompt("summarize_retry_json").text
                raise AssertionError("unreachable")

        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(parts))))

    async def _final(
        self,
        *,
        system: str,
        user: str,
        source_keys: set[str],
        lang: Lang,
        length: Length,
        usage: Usage,
        title: str | None,
    ) -> LLMDraft:
        """The digest call with its corrective retries (JSON, language, numbers: at most
        one each), then unsupported bullets dropped."""
        _, hi = BULLET_RANGE[length]
        correction = ""
        retried: set[str] = set()
        while True:
            try:
                data, u = await self.llm.complete_json(
                    system=system,
                    user=user + correction,
                    schema_name="digest",
                    schema=DIGEST_SCHEMA,
                    max_tokens=OUTPUT_TOKENS[length],
                )
                usage.add(u)
                out = DigestOut.model_validate(data)
                if not out.bullets:
                    raise LLMOutputError("no bullets")
            except (LLMOutputError, ValidationError) as exc:
                _count_failed(exc, usage)
                if "json" in retried:
                    raise LLMOutputError("the model gave invalid JSON twice") from None
                retried.add("json")
                correction = "\n\n" + load_prompt("summarize_retry_json").text
                continue
            bullets, questions = out.bullets[:hi], out.questions[:3]
            every = [out.headline, *bullets, *questions]
            if not language_ok(" ".join(every), lang):
                if "language" in retried:
                    raise LLMOutputError(f"the digest is not in {lang} after a retry")
                retried.add("language")
                log.info("language guard: digest not in %s, retrying", lang)
                correction = "\n\n" + load_prompt("summarize_retry_language").render(
                    language=LANGUAGE_NAMES[lang]
                )
                continue
            bad = all_unsupported(every, source_keys)
            if bad and "numbers" not in retried:
                retried.add("numbers")
                log.info("faithfulness guard: unsupported numbers %s, retrying", bad)
                correction = "\n\n" + load_prompt("summarize_retry_numbers").render(
                    numbers=", ".join(bad)
                )
                continue
            return self._drop_unsupported(
                out.headline, bullets, questions, source_keys, usage, title
            )

    @staticmethod
    def _drop_unsupported(
        headline: str,
        bullets: list[str],
        questions: list[str],
        source_keys: set[str],
        usage: Usage,
        title: str | None,
    ) -> LLMDraft:
        kept = [b for b in bullets if not all_unsupported([b], source_keys)]
        dropped = len(bullets) - len(kept)
        questions = [q for q in questions if not all_unsupported([q], source_keys)]
        if all_unsupported([headline], source_keys):
            dropped += 1
            if title and not all_unsupported([title], source_keys):
                headline = title
            elif kept:
                headline = kept[0]
            else:
                headline = ""
        if not kept or not headline:
            raise LLMOutputError("no bullet of the digest could be verified against the article")
        if dropped:
            log.info("faithfulness guard: dropped %d unsupported item(s)", dropped)
        return LLMDraft(headline, kept, questions, usage, dropped)
