"""A digest in the other language, translated from a checked digest (one short call).

Used on purpose for every second-language digest whose first-language digest exists
(the English digest of an article whose Arabic digest is cached costs a translation of
a few hundred tokens instead of a re-read of the article), and when a model will not
write the asked language from the article itself.

The translation keeps the source digest's bullets one for one, so each translated
bullet keeps its citations. Checks: the target language; per bullet, no number that is
not in the source bullet or its cited sentences, and every name kept in the article's
script spelled as in the article. One corrective retry, then bullets that still fail
are dropped; a translation left with too few bullets fails (`LLMOutputError`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from bot import metrics
from bot.domain import Lang
from bot.errors import LLMError
from bot.grounding import evidence
from bot.grounding.evidence import Sentence
from bot.grounding.guards import all_unsupported, source_number_keys
from bot.llm.article import followed_by, with_task
from bot.llm.client import LLMClient, Message, Usage
from bot.llm.defuse import defuse
from bot.llm.prompts import load_prompt
from bot.llm.replies import LLMOutputError
from bot.llm.stream import OnText
from bot.summarize import shape
from bot.summarize.pipeline import LANGUAGE_NAMES
from bot.summarize.writer import LLMDraft, in_language, parse_attempt

log = logging.getLogger(__name__)


def translation_schema(bullets: int, questions: int) -> dict[str, Any]:
    def strings(n: int) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}, "minItems": n, "maxItems": n}

    return {
        "type": "object",
        "properties": {
            "headline": {"type": "string"},
            "bullets": strings(bullets),
            "questions": strings(questions),
        },
        "required": ["headline", "bullets", "questions"],
        "additionalProperties": False,
    }


def _bullet_problem(
    text: str, source_bullet: str, cited: str, *, target: Lang, article_lang: Lang
) -> str:
    """Why a translated bullet is not faithful to its source bullet ('' when it is)."""
    if not shape.complete_sentence(text) or shape.has_debris(text):
        return "is not one complete sentence"
    support = f"{source_bullet} {cited}"
    same = target == article_lang
    check = evidence.check_claim(text, support, same_language=same)
    if not check.ok and not same:
        return check.reason.replace("cited sentences", "article")
    return ""


async def translate_draft(
    llm: LLMClient,
    source: LLMDraft,
    *,
    target: Lang,
    article_lang: Lang,
    sentences: Sequence[Sentence],
    on_text: OnText | None = None,
    prefix: list[Message] | None = None,
) -> LLMDraft:
    """Return `source` translated into `target`, checked; `on_text` follows the first
    attempt as it is written (streamed). `prefix`: the article's messages
    (`bot/llm/article.py`), which the request starts with like every request about the
    article, the task after them (None: no article at hand, a briefing item or a
    map-reduced article: the task alone, as the system message, is the shorter
    request). Raises LLMError (with usage)."""
    usage = Usage()
    task = load_prompt("translate_digest").text.strip()
    messages: list[Message]
    if prefix:
        messages = with_task(prefix, task + "\n\n" + _request(source, target))
    else:
        messages = [{"role": "system", "content": task}]
        messages.append({"role": "user", "content": _request(source, target)})
    schema = translation_schema(len(source.bullets), len(source.questions))
    best: tuple[list[str], LLMDraft] | None = None
    try:
        for attempt in (1, 2):
            try:
                got = await llm.chat_json(
                    messages,
                    schema_name="translation",
                    schema=schema,
                    max_tokens=300 + 120 * len(source.bullets),
                    on_text=on_text if attempt == 1 else None,
                )
            except LLMOutputError as err:
                usage.add_failed(err)
                if attempt == 2 and best is not None:
                    break
                if attempt == 2:
                    raise
                note = load_prompt("summarize_retry_json").text.strip()
                messages = followed_by(messages, str(err.params.get("reply", "")), note)
                continue
            except LLMError as err:  # down, timed out, stream cut: what it spent counts
                usage.add_failed(err)
                raise
            usage.add(got.usage)
            data = got.data
            problems, draft = _check(data, source, target, article_lang, sentences, usage)
            if best is None or len(draft.bullets) > len(best[1].bullets):
                best = (problems, draft)  # the attempt that keeps the most bullets wins
            if not problems:
                break
            if attempt == 1:
                log.info("translation checks failed (%s): one retry", "; ".join(problems))
                log.info("failed translation: %s", json.dumps(data, ensure_ascii=False)[:600])
                metrics.LLM_REPAIRS.labels(kind="shape_retry").inc()
                correction = "Correction: " + "; ".join(problems) + ". Translate again."
                messages = followed_by(messages, got.text, correction)
    except LLMError as err:
        raise err.spent(usage) from err
    assert best is not None
    try:
        return _finish(best[1], source, best[0], target)
    except LLMError as err:
        raise err.spent(usage) from err


def live_checks(
    source: LLMDraft, *, target: Lang, article_lang: Lang, sentences: Sequence[Sentence]
) -> tuple[Callable[[Any], str | None], Callable[[str], str | None]]:
    """The bullet and headline checks a translation being written passes before it is
    shown (`bot.summarize.live.LiveDraft`): a bullet faithful to one of the source's
    bullets (the final check pairs them one for one), a headline without debris or a
    number the source headline lacks."""
    cited = [
        evidence.cited_text(source.sources[i] if i < len(source.sources) else [], sentences)
        for i in range(len(source.bullets))
    ]

    def bullet(raw: Any) -> str | None:
        text = shape.clean(raw) if isinstance(raw, str) else ""
        if not text:
            return None
        for src, support in zip(source.bullets, cited, strict=True):
            if not _bullet_problem(text, src, support, target=target, article_lang=article_lang):
                return shape.finish_sentence(text, target)
        return None

    def headline(raw: str) -> str | None:
        text = shape.clean(raw).rstrip(".")
        keys = source_number_keys(source.headline)
        if not text or shape.has_debris(text) or all_unsupported([text], keys):
            return None
        return text

    return bullet, headline


def _request(source: LLMDraft, target: Lang) -> str:
    """The user message: the target language and the digest as delimited JSON data."""
    payload = json.dumps(
        {"headline": source.headline, "bullets": source.bullets, "questions": source.questions},
        ensure_ascii=False,
    )
    return (
        f"<target_language>{LANGUAGE_NAMES[target]}</target_language>\n\n"
        f"<digest>\n{evidence_safe(payload)}\n</digest>"
    )


def evidence_safe(text: str) -> str:
    """The digest JSON made unable to close its own <digest> tag (bot/llm/defuse.py)."""
    return defuse(text)


def _check(
    data: dict[str, Any],
    source: LLMDraft,
    target: Lang,
    article_lang: Lang,
    sentences: Sequence[Sentence],
    usage: Usage,
) -> tuple[list[str], LLMDraft]:
    attempt = parse_attempt(data)
    problems: list[str] = []
    if not in_language(attempt, target):
        problems.append(f"write it in {LANGUAGE_NAMES[target]} only")
    if len(attempt.bullets) != len(source.bullets):
        problems.append(f"give exactly {len(source.bullets)} bullets, one per input bullet")
    keep: list[int] = []
    for i, bullet in enumerate(attempt.bullets[: len(source.bullets)]):
        cited = evidence.cited_text(source.sources[i] if i < len(source.sources) else [], sentences)
        why = _bullet_problem(
            shape.clean(bullet.text),
            source.bullets[i],
            cited,
            target=target,
            article_lang=article_lang,
        )
        if why:
            problems.append(f"bullet {i + 1} {why}")
        else:
            keep.append(i)
    draft = LLMDraft(
        headline=shape.clean(attempt.headline).rstrip("."),
        bullets=[shape.finish_sentence(shape.clean(attempt.bullets[i].text), target) for i in keep],
        questions=attempt.questions,
        sources=[source.sources[i] for i in keep if i < len(source.sources)],
        quotes=[source.quotes[i] for i in keep if i < len(source.quotes)],
        usage=usage,
        dropped=source.dropped,
        quality=dict(source.quality),
    )
    if not in_language(attempt, target):
        draft.bullets = []
    return problems, draft


def _finish(draft: LLMDraft, source: LLMDraft, problems: list[str], target: Lang) -> LLMDraft:
    """The checked translation; too few bullets left (under the digest's `min_bullets`,
    or when that is unknown, under the source's count less one) fails."""
    floor = source.min_bullets or max(1, len(source.bullets) - 1)
    if len(draft.bullets) < floor:
        raise LLMOutputError(f"the translation failed its checks: {'; '.join(problems)}")
    lost = len(source.bullets) - len(draft.bullets)
    if lost:
        metrics.LLM_REPAIRS.labels(kind="unsupported_dropped").inc(lost)
        draft.quality["translation_dropped"] = lost
    questions, _ = shape.repair_items(
        draft.questions, lang=target, questions=True, others=draft.bullets
    )
    draft.questions = questions[:3]
    invented = all_unsupported([draft.headline], source_number_keys(source.headline))
    if not draft.headline or shape.has_debris(draft.headline) or invented:
        draft.headline = " ".join(draft.bullets[0].split()[: shape.MAX_HEADLINE_WORDS])
    draft.quality["translated"] = 1
    return draft
