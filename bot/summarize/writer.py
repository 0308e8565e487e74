"""The digest call and its checks: structured output -> shape and evidence rules -> at
most one corrective retry -> repair.

`DigestWriter.write(...)` asks the model for a digest whose bullets cite the article's
numbered sentences, then judges it:

1. JSON: a reply that is not the digest object gets one retry (`summarize_retry_json`).
2. Language: a digest not in the asked language raises `WrongLanguage`; the service then
   summarizes in the article's language and translates (`translate.py`).
3. Shape (`shape.py`) and evidence (`evidence.py`): when the repair below would leave
   fewer bullets than the asked minimum, every problem found goes into ONE corrective
   retry (`summarize_retry_shape`) and the better of the two replies is kept; otherwise
   the broken bullets are dropped (a retry costs a second pass as long as the first:
   issue 21's digest latency). Problems with the questions alone never get a retry:
   five are asked for, three shown, and a short extra call tops them up.
4. Repair: cut, repeated or malformed items are dropped; a bullet whose citation is
   wrong is re-anchored to the sentences that support it; an unsupported one is
   dropped; too many are trimmed, too few (in the article's own language) are topped up
   with the article's best sentences, which cite themselves. Each repair is counted in
   `metrics.LLM_REPAIRS` and in the draft's `quality`.

No digest that breaks a shape rule leaves this module: what cannot be repaired raises
`LLMOutputError`, and the service falls back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import metrics
from bot.domain import Article, Lang, Progress
from bot.errors import LLMError
from bot.grounding import evidence
from bot.grounding.evidence import Sentence
from bot.grounding.guards import all_unsupported, language_ok
from bot.llm.article import followed_by
from bot.llm.client import LLMClient, Message, Usage
from bot.llm.prompts import load_prompt
from bot.llm.replies import LLMOutputError
from bot.summarize import shape
from bot.summarize.extractive import score_sentences
from bot.summarize.live import LiveDraft
from bot.summarize.schema import digest_schema, text_field

log = logging.getLogger(__name__)

# linear on long runs of spaces: (?<!\s) starts a match at the first space only, \s*+ never gives back
_CITE = re.compile(r"(?<!\s)\s*\[(\d+(?:\s*[,،]\s*\d+)*)\]\s*+([.؟?!]?)\s*+$")
QUESTIONS = 3  # suggested questions on every digest (the call asks for up to five)
MORE_QUESTIONS_TOKENS = 200
LANGUAGE_NAMES = {"ar": "Arabic (العربية)", "en": "English"}  # how the prompts name them
_PAREN_ARABIC = re.compile(r"\([^()]*[\u0600-\u06ff][^()]*\)")


class WrongLanguage(LLMOutputError):
    """The model did not write the asked language (or could not keep the shape in it)."""


@dataclass
class LLMDraft:
    """A checked digest from the LLM: bullets with the sentence ids they rest on."""

    headline: str
    bullets: list[str]
    questions: list[str]
    sources: list[list[int]] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    dropped: int = 0
    quality: dict[str, int] = field(default_factory=dict)
    min_bullets: int = 0  # the least a translation of it may keep (0: all of them)
    notes: str = ""  # map-reduced: the notes it was written from (the reduce call's article)


@dataclass
class _Bullet:
    text: str
    sources: list[int]
    recited: bool = False


@dataclass
class _Attempt:
    headline: str
    bullets: list[_Bullet]
    questions: list[str]
    problems: list[str] = field(default_factory=list)
    verdicts: list[evidence.Check] = field(default_factory=list)
    reply: str = ""  # the model's text, as it wrote it
    asked: list[Message] = field(default_factory=list)  # the conversation it answered

    @property
    def good(self) -> int:
        return sum(v.ok for v in self.verdicts) - len(self.problems)


def _parse_bullet(raw: Any) -> _Bullet | None:
    if isinstance(raw, dict):
        text = str(raw.get("text") or raw.get("bullet") or "")
        ids = raw.get("sources") or raw.get("source") or []
        ids = ids if isinstance(ids, list) else [ids]
        sources = [int(i) for i in ids if isinstance(i, int | str) and str(i).isdigit()]
    elif isinstance(raw, str):
        text, sources = raw, []
    else:
        return None
    m = _CITE.search(text)
    if m:  # "… [3, 4]." written inline
        sources = sources or [int(i) for i in re.split(r"\s*[,،]\s*", m.group(1))]
        text = text[: m.start()] + m.group(2)
    text = " ".join(text.split()).lstrip("-•* ")
    return _Bullet(text, sources) if text else None


def _worth_a_retry(attempt: _Attempt) -> bool:
    """A corrective retry re-reads the whole article: it is spent on broken bullets or
    headline only. Question problems are repaired without it: the bad ones are dropped
    and replaced by a short extra call (`DigestWriter._more_questions`)."""
    return any(
        not p.startswith(("question", "write at least 3 questions")) for p in attempt.problems
    )


def parse_attempt(data: dict[str, Any]) -> _Attempt:
    """The model's JSON as an attempt (lenient: string bullets, inline `[3]` citations)."""
    raw_bullets = data.get("bullets")
    raw_questions = data.get("questions")
    bullets = [b for b in map(_parse_bullet, raw_bullets or []) if b is not None]
    questions = [" ".join(str(q).split()) for q in (raw_questions or []) if str(q).strip()]
    headline = " ".join(str(data.get("headline") or "").split())
    if not bullets or not headline:
        raise LLMOutputError("the digest has no headline or no bullets")
    return _Attempt(headline, bullets, questions)


def in_language(attempt: _Attempt, lang: Lang) -> bool:
    """The digest's script fits `lang` (names kept in parentheses do not count)."""
    every = [attempt.headline, *(b.text for b in attempt.bullets), *attempt.questions]
    text = " ".join(every)
    if lang == "en":
        text = _PAREN_ARABIC.sub(" ", text)
    return language_ok(text, lang)


@dataclass
class DigestWriter:
    """One digest: the call, the checks, one corrective retry, the repair."""

    llm: LLMClient
    sentences: Sequence[Sentence]
    lang: Lang
    same_language: bool
    want: shape.Range
    source_keys: set[str]
    title: str | None
    anchored: bool = True  # False: the model read notes, so its ids mean nothing
    max_tokens: int = 800
    quality: dict[str, int] = field(default_factory=dict)
    progress: Progress | None = None  # gets Stage("writing") while the first reply streams

    def _count(self, kind: str, n: int = 1) -> None:
        if n:
            self.quality[kind] = self.quality.get(kind, 0) + n

    async def write(self, messages: list[Message], *, usage: Usage) -> LLMDraft:
        """Return the checked draft of the conversation `messages` (the article's prefix,
        `bot/llm/article.py`, then the task); raise WrongLanguage or LLMOutputError
        (with usage). Corrections are appended to the conversation."""
        try:
            first = await self._ask(messages, usage, json_retry=True)
            self._judge(first)
            best = first
            if _worth_a_retry(first) and self._usable(first) < self.want.lo:
                best = await self._correct(usage, first)
            draft = self._repair(best, usage)
            if len(draft.questions) < QUESTIONS:
                await self._more_questions(best, usage, draft)
            return draft
        except LLMError as err:
            raise err.spent(usage) from err

    async def _ask(self, messages: list[Message], usage: Usage, *, json_retry: bool) -> _Attempt:
        schema = digest_schema(self.want, self.lang)
        for attempt in (1, 2):
            live = None
            if self.progress is not None and json_retry and attempt == 1:
                live = LiveDraft(self.progress, self.lang, self._live_bullet, self._live_headline)
            reply = ""
            try:
                got = await self.llm.chat_json(
                    messages,
                    schema_name="digest",
                    schema=schema,
                    max_tokens=self.max_tokens,
                    on_text=live,
                )
                usage.add(got.usage)
                reply = got.text
                parsed = parse_attempt(got.data)
            except LLMOutputError as err:
                usage.add_failed(err)
                if attempt == 2 or not json_retry:
                    raise LLMOutputError(f"no usable digest from the model: {err.detail}") from None
                note = load_prompt("summarize_retry_json").text.strip()
                messages = followed_by(messages, reply or str(err.params.get("reply", "")), note)
                continue
            except LLMError as err:  # down, timed out, stream cut: what it spent counts
                usage.add_failed(err)
                raise
            if not in_language(parsed, self.lang):
                raise WrongLanguage(f"the digest is not in {self.lang}")
            parsed.reply, parsed.asked = reply, messages
            return parsed
        raise AssertionError("unreachable")

    def _live_bullet(self, raw: Any) -> str | None:
        """A streamed bullet as shown, or None when it would not pass its checks."""
        bullet = _parse_bullet(raw)
        if bullet is None or shape.has_debris(bullet.text) or not self._verdict(bullet).ok:
            return None
        return shape.clean(bullet.text)

    def _live_headline(self, text: str) -> str | None:
        """The headline shown while streaming: the one `_headline` would most likely keep."""
        if self.title and self.same_language and _usable_headline(self.title):
            return self.title
        text = shape.clean(text).rstrip(".")
        ok = _usable_headline(text) and not all_unsupported([text], self.source_keys)
        return text if ok else None

    def _judge(self, attempt: _Attempt) -> None:
        """Fill the attempt's evidence verdicts and its list of problems."""
        texts = [shape.clean(b.text) for b in attempt.bullets]
        attempt.problems = shape.problems(attempt.headline, texts, attempt.questions, self.want)
        attempt.verdicts = []
        for i, bullet in enumerate(attempt.bullets, 1):
            verdict = self._verdict(bullet)
            attempt.verdicts.append(verdict)
            if not verdict.ok:
                attempt.problems.append(f"bullet {i}: {verdict.reason}")
        bad = all_unsupported([attempt.headline], self.source_keys)
        if bad:
            attempt.problems.append(
                f"the headline's numbers {', '.join(bad)} are not in the article"
            )

    def _usable(self, attempt: _Attempt) -> int:
        """How many of the attempt's bullets the repair would keep. A corrective retry
        (a second pass over the whole article: on 2 cores, as long as the first) is
        spent only when that is under the asked minimum; otherwise the broken bullets
        are dropped and the digest is shown at once."""
        kept: list[str] = []
        for bullet, verdict in zip(attempt.bullets, attempt.verdicts, strict=True):
            texts, lost = shape.repair_items(
                [bullet.text], lang=self.lang, questions=False, others=kept
            )
            if verdict.ok and not lost:
                kept.append(texts[0])
        return len(kept)

    def _verdict(self, bullet: _Bullet) -> evidence.Check:
        """Check one bullet against its cited sentences (re-anchoring it if they are
        wrong but the support is elsewhere in the article)."""
        ids = evidence.valid_ids(bullet.sources, self.sentences) if self.anchored else []
        if ids:
            cited = evidence.cited_parts(ids, self.sentences)
            verdict = evidence.check_claim(bullet.text, cited, same_language=self.same_language)
            if verdict.ok:
                bullet.sources = ids
                return verdict
            if "opposite" in verdict.reason:
                return verdict  # a flipped fact is not rescued by other sentences
        else:
            whole = [s.text for s in self.sentences]
            verdict = evidence.check_claim(bullet.text, whole, same_language=self.same_language)
            reason = verdict.reason.replace("the cited sentences", "the article")
            verdict = evidence.Check(False, reason or "it cites no sentence of the article")
        found = evidence.anchor(bullet.text, self.sentences, same_language=self.same_language)
        if found:
            bullet.sources, bullet.recited = found, self.anchored
            return evidence.Check(True)
        return verdict

    async def _correct(self, usage: Usage, first: _Attempt) -> _Attempt:
        """One corrective retry naming every problem; the better attempt wins."""
        metrics.LLM_REPAIRS.labels(kind="shape_retry").inc()
        self._count("retries")
        log.info("digest checks failed (%s): one corrective retry", "; ".join(first.problems))
        note = load_prompt("summarize_retry_shape").render(
            problems="\n".join(f"- {p}" for p in first.problems),
            min_bullets=self.want.lo,
            max_bullets=self.want.hi,
        )
        try:
            again = followed_by(first.asked, first.reply, note)
            second = await self._ask(again, usage, json_retry=False)
        except LLMOutputError:  # WrongLanguage included; its cost is in `usage` already
            return first
        self._judge(second)
        return second if second.good >= first.good else first

    def _repair(self, attempt: _Attempt, usage: Usage) -> LLMDraft:
        self._count("bullets_raw", len(attempt.bullets))
        self._count("supported_raw", sum(v.ok for v in attempt.verdicts))
        kept: list[_Bullet] = []
        dropped = 0
        for bullet, verdict in zip(attempt.bullets, attempt.verdicts, strict=True):
            texts, lost = shape.repair_items(
                [bullet.text], lang=self.lang, questions=False, others=[b.text for b in kept]
            )
            if lost:
                self._count("malformed_dropped")
                metrics.LLM_REPAIRS.labels(kind="item_dropped").inc()
                continue
            if not verdict.ok:
                dropped += 1
                self._count("unsupported_dropped")
                metrics.LLM_REPAIRS.labels(kind="unsupported_dropped").inc()
                continue
            if bullet.recited:
                self._count("recited")
                metrics.LLM_REPAIRS.labels(kind="recited").inc()
            kept.append(_Bullet(texts[0], bullet.sources))
        if len(kept) > self.want.hi:
            self._count("trimmed", len(kept) - self.want.hi)
            kept = kept[: self.want.hi]
        if not kept:
            raise LLMOutputError("no bullet of the digest could be verified against the article")
        if len(kept) < self.want.lo:
            if not self.same_language:
                raise WrongLanguage("too few usable bullets in the other language")
            self._top_up(kept)
        if not kept:
            raise LLMOutputError("no bullet of the digest could be verified against the article")
        questions, lost_q = shape.repair_items(
            attempt.questions, lang=self.lang, questions=True, others=[b.text for b in kept]
        )
        if lost_q:
            self._count("questions_dropped", lost_q)
            metrics.LLM_REPAIRS.labels(kind="item_dropped").inc(lost_q)
        headline = self._headline(attempt.headline, kept)
        if dropped:
            log.info("evidence guard: dropped %d unsupported bullet(s)", dropped)
        return LLMDraft(
            headline=headline,
            bullets=[b.text for b in kept],
            questions=questions[:3],
            sources=[b.sources for b in kept],
            quotes=[evidence.quote(b.sources, self.sentences) for b in kept],
            usage=usage,
            dropped=dropped,
            quality=dict(self.quality),
            min_bullets=self.want.lo,
        )

    async def _more_questions(self, best: _Attempt, usage: Usage, draft: LLMDraft) -> None:
        """Top the draft's questions up to QUESTIONS with one short call on the same
        article prompt (its prefix is the digest call's: a server's prompt cache reuses
        it), asking only for questions the article answers and the digest does not
        state; they pass the same checks. A failed call leaves the draft as it is
        (what it spent counts)."""
        need = QUESTIONS - len(draft.questions)
        conversation = more_questions_messages(best, draft, need + 1, self.lang)
        schema = {
            "type": "object",
            "properties": {
                "questions": {
                    "type": "array",
                    "items": text_field(self.lang),
                    "minItems": need + 1,  # a spare or two: the checks drop some
                    "maxItems": need + 3,
                }
            },
            "required": ["questions"],
            "additionalProperties": False,
        }
        try:
            got = await self.llm.chat_json(
                conversation,
                schema_name="questions",
                schema=schema,
                max_tokens=MORE_QUESTIONS_TOKENS,
            )
        except LLMOutputError as err:
            usage.add_failed(err)
            return
        except LLMError as err:  # the digest is ready: a failed extra does not undo it
            usage.add_failed(err)
            log.info("more questions failed: %s", err.detail)
            return
        usage.add(got.usage)
        raw = got.data.get("questions")
        asked = (
            [" ".join(str(q).split()) for q in raw if str(q).strip()]
            if isinstance(raw, list)
            else []
        )
        good = [q for q in asked if self._answerable(q)]
        others = [*draft.bullets, *draft.questions]
        fresh, _ = shape.repair_items(good, lang=self.lang, questions=True, others=others)
        fresh = [q for q in fresh if not any(shape.similar(q, o) for o in others)][:need]
        if len(fresh) < need:
            log.info("more questions: %d of %d usable in %s", len(fresh), need, asked)
        self._count("questions_added", len(fresh))
        self._count("questions_dropped", len(asked) - len(fresh))
        draft.questions = [*draft.questions, *fresh]
        draft.quality = dict(self.quality)

    def _answerable(self, question: str) -> bool:
        """A suggested question rests on the article: no number it lacks and (in its
        language) most content words in it, or (across languages) only its names."""
        if all_unsupported([question], self.source_keys):
            return False
        article = " ".join(s.text for s in self.sentences)
        if self.same_language:
            return evidence.word_support(question, article) >= evidence.MIN_SUPPORT
        return evidence.check_claim(question, article, same_language=False).ok

    def _top_up(self, kept: list[_Bullet]) -> None:
        """Add the article's best sentences (in its own language) until the range is met."""
        by_text = {s.text: s.id for s in self.sentences}
        ranked = sorted(score_sentences_safe(self.sentences), key=lambda p: -p[0])
        for _, text in ranked:
            if len(kept) >= self.want.lo:
                break
            sid = by_text.get(text)
            if sid is None or not shape.complete_sentence(text):
                continue
            if any(shape.similar(text, b.text) for b in kept):
                continue
            kept.append(_Bullet(shape.finish_sentence(text, self.lang), [sid]))
            self._count("topped_up")
            metrics.LLM_REPAIRS.labels(kind="topped_up").inc()
        kept.sort(key=lambda b: min(b.sources or [0]))

    def _headline(self, headline: str, kept: list[_Bullet]) -> str:
        """The article's own title when it has one in the digest's language (the most
        faithful headline there is: real small models wrote headlines the article never
        says), else the model's headline if it is usable, else the first bullet's start."""
        if self.title and self.same_language and _usable_headline(self.title):
            return self.title
        text = shape.clean(headline).rstrip(".")
        if _usable_headline(text) and not all_unsupported([text], self.source_keys):
            return text
        self._count("headline_replaced")
        if (
            self.title
            and self.same_language
            and not all_unsupported([self.title], self.source_keys)
        ):
            return self.title
        first = kept[0].text
        words = first.split()
        return " ".join(words[: shape.MAX_HEADLINE_WORDS]).rstrip(".،,")


def more_questions_messages(
    best: _Attempt, draft: LLMDraft, count: int, lang: Lang
) -> list[Message]:
    """The extra questions call: the digest's own conversation (the article's prefix,
    its task and the model's reply), then the digest kept and the ask."""
    have = "\n".join(f"- {q}" for q in draft.questions)
    note = load_prompt("summarize_more_questions").render(
        bullets="\n".join(f"- {b}" for b in draft.bullets),
        have=f"and asks already:\n{have}" if have else "",
        count=count,
        language=LANGUAGE_NAMES[lang],
    )
    return followed_by(best.asked, best.reply, note)


def _usable_headline(text: str) -> bool:
    return (
        bool(text.strip())
        and not shape.has_debris(text)
        and (len(text.split()) <= shape.MAX_HEADLINE_WORDS)
    )


def score_sentences_safe(sentences: Sequence[Sentence]) -> list[tuple[float, str]]:
    """Extractive scores for numbered sentences (the article rebuilt from them)."""
    text = "\n\n".join(s.text for s in sentences)
    scored = score_sentences(Article(text=text))
    return scored or [(1.0 / s.id, s.text) for s in sentences]
