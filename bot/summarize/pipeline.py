"""The LLM path of a digest: prompts, map-reduce for long articles, then the writer.

`LLMSummarizer.summarize(article, lang=..., length=...)` returns a checked `LLMDraft`
or raises `LLMError` when the LLM cannot give a usable digest (down, timing out, invalid
JSON twice, nothing that passes the checks); `WrongLanguage` when the model will not
write the asked language (the service then translates instead). The checks and the
corrective retry live in `writer.py`.

The article always travels in the USER message between <article> and </article>, as
numbered sentences (`evidence.py`), never in the system prompt (any such tag inside the
text is defused): every request about it starts with the same system and article
messages (`bot/llm/article.py`), the task after them, so a server's prefix cache reads
the article once for the digest, its retry, its translation and the follow-ups. An article whose prompt would exceed `max_input_tokens` is split at
paragraph boundaries; each part is noted by one "map" call and one "reduce" call writes
the digest from the notes, so the cost grows linearly with the length and every request
stays under the budget. Bullets written from notes are anchored to the article's
sentences by the evidence check itself. The draft carries the reduce call's notes
(`LLMDraft.notes`), which the maker keeps with the article so the translation and the
follow-ups start with the reduce call's prefix. At most `max_parts` (SUMMARY_MAX_PARTS) parts
are noted: the rest of a longer text is cut, and the draft says so
(`quality["cut_parts"]`, shown as a note on the digest). `estimate` gives a request's
token cost before it starts, for the daily budget's reservation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.domain import Article, Lang, Length, Progress, Stage
from bot.errors import LLMError
from bot.grounding import evidence
from bot.grounding.guards import source_number_keys
from bot.llm import article as prefix
from bot.llm.article import article_messages, followed_by, notes_messages, with_task
from bot.llm.chunks import request_estimate, split_to_budget
from bot.llm.client import LLMClient, Message, Usage
from bot.llm.prompts import combined_version, load_prompt
from bot.llm.replies import LLMOutputError
from bot.llm.tokens import count_tokens, estimate_tokens
from bot.summarize import shape
from bot.summarize.schema import digest_schema
from bot.summarize.translate import translation_estimate
from bot.summarize.writer import LANGUAGE_NAMES, QUESTIONS, DigestWriter, LLMDraft, WrongLanguage

log = logging.getLogger(__name__)

__all__ = ["LLMDraft", "LLMSummarizer", "WrongLanguage", "prompt_version"]

BULLET_RANGE: dict[str, tuple[int, int]] = {"short": (3, 5), "detailed": (6, 10)}
LENGTH_NAMES: dict[str, str] = {"short": "short", "detailed": "detailed"}
MAP_POINTS = 8
MAP_OUTPUT_TOKENS = 500
MAX_CHARS_PER_TOKEN = 8  # far above any real text: cuts a huge text before splitting it
MAP_CONCURRENCY = 3
MAX_ROUNDS = 3  # rounds of re-noting notes too long for one reduce call
OUTPUT_TOKENS = {"short": 700, "detailed": 1300}
# Bump when the checks or the digest schema change in a way that should not reuse
# cached digests (part of the digest cache key, with the prompts' hashes).
CHECKS_VERSION = "evidence-1"
PROMPTS = (
    *prefix.PROMPTS,
    "summarize",
    "summarize_map",
    "summarize_reduce",
    "summarize_retry_shape",
    "summarize_retry_json",
    "translator",
    "translate_item",
    "summarize_more_questions",
    "json_only",
)

_STR_LIST = {"type": "array", "items": {"type": "string"}}
NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"points": _STR_LIST},
    "required": ["points"],
    "additionalProperties": False,
}


def prompt_version() -> str:
    """Version of the summarize prompts and checks together (part of the digest cache key)."""
    return combined_version(*PROMPTS) + "-" + CHECKS_VERSION


class NotesOut(BaseModel):
    points: list[str]


def _count_failed(exc: Exception, usage: Usage) -> None:
    """Add the cost of a reply that failed validation (the call was still made)."""
    spent = getattr(exc, "usage", None)
    if isinstance(spent, Usage):
        usage.add(spent)


class LLMSummarizer:
    """Writes a digest with the LLM: single call or map-reduce, then the writer's checks."""

    def __init__(self, llm: LLMClient, *, max_input_tokens: int, max_parts: int = 8) -> None:
        self.llm = llm
        self.max_input_tokens = max_input_tokens
        self.max_parts = max_parts

    def _cap_text(self, article: Article) -> tuple[Article, bool]:
        """`article` without what is far beyond what `max_parts` parts can hold (cut before
        any work on it: numbering 5 MB of sentences alone cost seconds); True when cut."""
        limit = self.max_parts * self.max_input_tokens * MAX_CHARS_PER_TOKEN
        if len(article.text) <= limit:
            return article, False
        return article.model_copy(update={"text": article.text[:limit]}), True

    def estimate(self, article: Article, *, lang: Lang, length: Length, pivot: bool = False) -> int:
        """Upper-leaning token cost of `summarize` for `article` (no call is made);
        a digest in another language than the article's adds one translation, and with
        `pivot`, the article-language digest a model that will not write `lang` needs."""
        if pivot and lang != article.language:
            direct = self.estimate(article, lang=lang, length=length)
            return direct + self.estimate(article, lang=article.language, length=length)
        limit = self.max_parts * self.max_input_tokens * MAX_CHARS_PER_TOKEN
        body = (f"{article.title}\n\n" if article.title else "") + article.text[:limit]
        out = OUTPUT_TOKENS[length]
        overhead = self._request_overhead(lang, length)
        total = request_estimate(
            # numbering the sentences adds a few tokens each
            estimate_tokens(body) + body.count(".") + body.count("\n") + body.count("\u061f"),
            max_input=self.max_input_tokens,
            overhead=overhead,
            output=out,
            max_parts=self.max_parts,
            map_output=MAP_OUTPUT_TOKENS,
        )
        if lang != article.language:  # the digest's items translated one by one
            with_article = self.llm is not None and self.llm.translate_with_article
            article_tokens = min(estimate_tokens(body), self.max_input_tokens)
            items = BULLET_RANGE[length][1] + 1 + QUESTIONS
            total += translation_estimate(
                items, digest_tokens=out, article_tokens=article_tokens if with_article else 0
            )
        return total

    def _request_overhead(self, lang: Lang, length: Length) -> int:
        """`_overhead` of the summarize prompts at their longest for `lang`, `length`."""
        params = {
            "language": LANGUAGE_NAMES[lang],
            "length_name": LENGTH_NAMES[length],
            "min_bullets": BULLET_RANGE[length][1],
            "max_bullets": BULLET_RANGE[length][1],
        }
        system = prefix.system_message()["content"]
        task = load_prompt("summarize").render(**params)
        return self._overhead(system, task)

    def prefix(self, article: Article) -> list[Message] | None:
        """The messages every request about `article` starts with (the digest's), or
        None when it is map-reduced (too long for one request: the reduce call's notes
        are then the prefix, `LLMDraft.notes`, kept by the maker)."""
        article, _ = self._cap_text(article)
        numbered = evidence.numbered_text(evidence.number_sentences(article.text))
        body = prefix.numbered_body(article, numbered)
        budget = self.max_input_tokens - self._request_overhead(article.language, "detailed")
        return article_messages(article, numbered) if count_tokens(body) <= budget else None

    def cut_to_fit(
        self, article: Article, *, lang: Lang, length: Length, tokens: int, pivot: bool = False
    ) -> Article | None:
        """The start of `article` (cut at a paragraph or word break) whose `estimate`
        fits `tokens`: the longest such start, so a big article against a small remaining
        budget still gets a digest of its beginning. None when even one full part of it
        (or the whole of a shorter article) does not fit."""
        text = article.text[: self.max_parts * self.max_input_tokens * MAX_CHARS_PER_TOKEN]

        def fits(n: int) -> bool:
            cut = article.model_copy(update={"text": text[:n]})
            return self.estimate(cut, lang=lang, length=length, pivot=pivot) <= tokens

        lo, hi = 0, len(text)  # fits(lo) is known (or assumed) true, fits(hi + 1) false
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
        end = text.rfind("\n\n", 0, lo + 1)
        if end < lo * 0.8:  # no paragraph break near: a word break
            end = text.rfind(" ", 0, lo + 1)
        part = self.max_input_tokens - self._request_overhead(lang, length)
        if end <= 0 or estimate_tokens(text[:end]) < min(part, estimate_tokens(article.text)):
            return None
        return article.model_copy(update={"text": text[:end].rstrip()})

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def _overhead(system: str, user: str) -> int:
        """Tokens of everything in a request except the article text, with room for the
        longest correction and the JSON-schema note a refusing server needs."""
        extras = [
            load_prompt("summarize_retry_shape").render(
                problems="- bullet 10: its numbers 0000, 0000 are not in the cited sentences\n" * 8,
                min_bullets=10,
                max_bullets=10,
            ),
            load_prompt("summarize_retry_json").text,
        ]
        schema = digest_schema(shape.Range(10, 10), "en")  # the longer: patterns
        schema_note = load_prompt("json_only").render(schema=str(schema))
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
        """Return the checked LLM digest of `article`; raise LLMError to ask for fallback
        (WrongLanguage when the model will not write `lang`). Errors carry `usage`."""
        usage = Usage()
        article, precut = self._cap_text(article)
        sentences = evidence.number_sentences(article.text)
        lo, hi = BULLET_RANGE[length]
        want = shape.bullet_range(lo, hi, len(sentences))
        params = {
            "language": LANGUAGE_NAMES[lang],
            "length_name": LENGTH_NAMES[length],
            "min_bullets": want.lo,
            "max_bullets": want.hi,
        }
        system = prefix.system_message()["content"]
        task = load_prompt("summarize").render(**params)
        budget = self.max_input_tokens - self._overhead(system, task)
        numbered = evidence.numbered_text(sentences)
        anchored = count_tokens(prefix.numbered_body(article, numbered)) <= budget
        cut = 0
        notes = ""
        try:
            if anchored:
                if progress:
                    await progress(Stage("summarizing", 1, 1))
                messages = with_task(article_messages(article, numbered), task)
            else:
                parts, cut = await self._reduce_input(
                    article, lang, params, system, usage, progress
                )
                notes = "\n\n".join(parts)
                reduce = load_prompt("summarize_reduce").render(total=len(parts), **params)
                messages = with_task(notes_messages(notes), reduce)
        except LLMError as err:
            raise err.spent(usage) from err
        source = article.text + "\n" + (article.title or "")
        if article.published:
            d = article.published
            source += f"\n{d.isoformat()} {d.day} {d.month} {d.year}"
        writer = DigestWriter(
            llm=self.llm,
            sentences=sentences,
            lang=lang,
            same_language=lang == article.language,
            want=want,
            source_keys=source_number_keys(source),
            title=article.title,
            anchored=anchored,
            max_tokens=OUTPUT_TOKENS[length],
            progress=progress,
        )
        draft = await writer.write(messages, usage=usage)
        draft.notes = notes
        if cut or precut:
            draft.quality["cut_parts"] = max(cut, 1)
        return draft

    async def _reduce_input(
        self,
        article: Article,
        lang: Lang,
        params: dict[str, Any],
        system: str,
        usage: Usage,
        progress: Progress | None,
    ) -> tuple[list[str], int]:
        """Map the long article into notes; return the notes of each part the reduce
        call reads (in the place of the article, joined by blank lines: its prefix,
        `notes_messages`) and the number of parts cut off the end (0: none)."""
        text = (f"{article.title}\n\n" if article.title else "") + article.text
        notes, cut = await self._map(text, lang=lang, usage=usage, progress=progress, cap=True)
        if progress:
            await progress(Stage("combining"))
        probe = load_prompt("summarize_reduce").render(total=999, **params)
        notes = await self._condense(
            notes,
            budget=self.max_input_tokens - self._overhead(system, probe),
            lang=lang,
            usage=usage,
        )
        return notes, cut

    async def _condense(
        self, notes: list[str], *, budget: int, lang: Lang, usage: Usage
    ) -> list[str]:
        """Return notes that fit `budget` tokens: notes too long for one reduce call are
        noted again (at most MAX_ROUNDS times), then cut at a part boundary if needed."""
        for _ in range(MAX_ROUNDS):
            if count_tokens("\n\n".join(notes)) <= budget or len(notes) == 1:
                break
            notes, _ = await self._map("\n\n".join(notes), lang=lang, usage=usage, progress=None)
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
        self,
        text: str,
        *,
        lang: Lang,
        usage: Usage,
        progress: Progress | None,
        cap: bool = False,
    ) -> tuple[list[str], int]:
        """Note every part of a long text; return one notes text per part, in order, and
        the number of parts cut: with `cap`, only the first `max_parts` are noted."""
        system = prefix.system_message()["content"]
        task_probe = load_prompt("summarize_map").render(
            part=999, total=999, language=LANGUAGE_NAMES[lang], max_points=MAP_POINTS
        )
        budget = max(self.max_input_tokens - self._overhead(system, task_probe), 100)
        cut = 0
        if cap:
            limit = self.max_parts * budget * MAX_CHARS_PER_TOKEN
            parts = split_to_budget(text[:limit], budget)
            if len(parts) > self.max_parts or len(text) > limit:
                log.warning("map-reduce: article cut to its first %d parts", self.max_parts)
                cut = max(1, len(parts) - self.max_parts)
                parts = parts[: self.max_parts]
        else:
            parts = split_to_budget(text, budget)
        total = len(parts)
        gate = asyncio.Semaphore(MAP_CONCURRENCY)

        async def one(index: int, part: str) -> str:
            async with gate:
                if progress:
                    await progress(Stage("summarizing", index + 1, total))
                task = load_prompt("summarize_map").render(
                    part=index + 1,
                    total=total,
                    language=LANGUAGE_NAMES[lang],
                    max_points=MAP_POINTS,
                )
                messages = with_task(prefix.messages(part), task)  # this part's own prefix
                for attempt in (1, 2):
                    reply = ""
                    try:
                        got = await self.llm.chat_json(
                            messages,
                            schema_name="notes",
                            schema=NOTES_SCHEMA,
                            max_tokens=MAP_OUTPUT_TOKENS,
                        )
                        usage.add(got.usage)
                        reply = got.text
                        points = NotesOut.model_validate(got.data).points
                        return f"({index + 1}/{total})\n" + "\n".join(f"- {p}" for p in points)
                    except (LLMOutputError, ValidationError) as exc:
                        if not isinstance(exc, ValidationError):
                            _count_failed(exc, usage)
                            reply = str(exc.params.get("reply", ""))
                        if attempt == 2:
                            raise LLMOutputError("invalid notes from the model") from None
                        note = load_prompt("summarize_retry_json").text.strip()
                        messages = followed_by(messages, reply, note)
                    except LLMError as exc:  # down, timed out, stream cut: it still counts
                        _count_failed(exc, usage)
                        raise
                raise AssertionError("unreachable")

        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(parts)))), cut
