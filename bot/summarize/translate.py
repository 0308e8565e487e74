"""A digest in the other language, translated from a checked digest (one short call).

Used on purpose for every second-language digest whose first-language digest exists
(the English digest of an article whose Arabic digest is cached costs a translation of
a few hundred tokens instead of a re-read of the article), and when a model will not
write the asked language from the article itself.

The translation keeps the source digest's bullets one for one, so each translated
bullet keeps its citations. Checks: the target language; per bullet, no number that is
not in the source bullet or its cited sentences, every name matching a name of them
(`bot.grounding.names`), and every name kept in the article's script spelled as in the
article; per question, the same against the whole article. Then (measured on the real
1.5B model, docs/benchmarks.md) what makes a small model's English hold up:

* a name list first, in the same reply: each person and place once, as the digest
  spells it and in the target language; a pair whose sounds do not match ("Obama" for
  جو بايدن) is refused and the retry is told to keep that name in the article's script;
* English fields carry a json-schema `pattern` (Arabic script only in parentheses);
* ONE corrective retry for the failed items only, bullet by bullet with each one's cited
  sentence beside it and the checked names, and the items that pass are merged with
  the first reply's: the verified bullets of a partial translation are kept. A
  translation left with too few bullets fails (`LLMOutputError`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import metrics
from bot.domain import Lang
from bot.errors import LLMError
from bot.grounding import evidence
from bot.grounding.evidence import Sentence
from bot.grounding.guards import all_unsupported, language_ok, source_number_keys
from bot.grounding.names import unmatched_names
from bot.ingest.arabic import normalize_for_match
from bot.llm.article import followed_by, with_task
from bot.llm.client import LLMClient, Message, Usage
from bot.llm.defuse import defuse
from bot.llm.prompts import load_prompt
from bot.llm.replies import LLMOutputError
from bot.llm.stream import OnText
from bot.summarize import shape
from bot.summarize.pipeline import LANGUAGE_NAMES
from bot.summarize.schema import text_field
from bot.summarize.writer import _PAREN_ARABIC, LLMDraft, in_language, parse_attempt

log = logging.getLogger(__name__)

MAX_NAMES = 12


def translation_schema(bullets: int, questions: int, target: Lang = "ar") -> dict[str, Any]:
    """The first reply: the name list (ar->en), headline, bullets and questions."""
    text = text_field(target)

    def strings(n: int) -> dict[str, Any]:
        return {"type": "array", "items": text, "minItems": n, "maxItems": n}

    props: dict[str, Any] = {}
    if target == "en":
        pair = {
            "type": "object",
            "properties": {"source": {"type": "string"}, "target": text},
            "required": ["source", "target"],
            "additionalProperties": False,
        }
        props["names"] = {"type": "array", "items": pair, "maxItems": MAX_NAMES}
    props |= {"headline": text, "bullets": strings(bullets), "questions": strings(questions)}
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def retry_schema(bullets: int, questions: int, target: Lang) -> dict[str, Any]:
    """The corrective retry: the failed bullets and questions only (a list with none
    is left out: llama.cpp's grammar for `maxItems: 0` breaks the whole schema)."""
    text = text_field(target)
    props = {
        key: {"type": "array", "items": text, "minItems": n, "maxItems": n}
        for key, n in (("bullets", bullets), ("questions", questions))
        if n
    }
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _bullet_problem(
    text: str, source_bullet: str, cited: str, *, target: Lang, article_lang: Lang
) -> str:
    """Why a translated bullet is not faithful to its source bullet ('' when it is)."""
    if not shape.complete_sentence(text) or shape.has_debris(text):
        return "is not one complete sentence"
    if not language_ok(_PAREN_ARABIC.sub(" ", text), target):
        return f"is not in {LANGUAGE_NAMES[target]}"
    support = f"{source_bullet} {cited}"
    same = target == article_lang
    check = evidence.check_claim(text, support, same_language=same)
    if not check.ok and not same:
        return check.reason.replace("cited sentences", "article")
    return ""


def _question_problem(text: str, article: str, *, target: Lang, article_lang: Lang) -> str:
    """Why a translated question may not be shown ('' when it may): its shape, its
    language, and (across languages) its numbers and names, against the article."""
    if not shape.good_question(text) or shape.has_debris(text):
        return "is not one short question ending with a question mark"
    if not language_ok(_PAREN_ARABIC.sub(" ", text), target):
        return f"is not in {LANGUAGE_NAMES[target]}"
    if target != article_lang and article:
        check = evidence.check_claim(text, article, same_language=False)
        if not check.ok:
            return check.reason.replace("cited sentences", "article")
    return ""


@dataclass
class _Names:
    """The name list of a translation: pairs that passed (source spelling -> target
    spelling) and those refused (the source spelling is to be kept)."""

    good: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def block(self) -> str:
        lines = [f"{src} = {dst}" for src, dst in self.good.items()]
        lines += [f"{src} = ({src})" for src in self.refused]
        return "\n".join(lines)


def checked_names(raw: Any, source_text: str) -> _Names:
    """The model's name list, each pair checked: the source spelling is in the digest
    (or its cited sentences), and the target spelling's sounds match it."""
    names = _Names()
    norm = normalize_for_match(source_text)
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        src = " ".join(str(item.get("source") or "").split())
        dst = " ".join(str(item.get("target") or "").split())
        if not src or normalize_for_match(src) not in norm or src in names.good:
            continue
        clean = _PAREN_ARABIC.sub(" ", dst).strip()
        ok = bool(clean) and language_ok(clean, "en") and not shape.has_debris(clean)
        if ok and unmatched_names("The " + clean, src):
            ok = False
        if ok:
            names.good[src] = clean
        elif src not in names.refused:
            names.refused.append(src)
    return names


@dataclass
class _Round:
    """The translation so far: checked bullets and questions by index, and the problems
    of the rest (for the retry)."""

    bullets: dict[int, str] = field(default_factory=dict)
    questions: dict[int, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # "bullet 2" -> why
    headline: str = ""
    in_language: bool = True


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
    cited = [
        evidence.cited_text(source.sources[i] if i < len(source.sources) else [], sentences)
        for i in range(len(source.bullets))
    ]
    article = " ".join(s.text for s in sentences)
    names = _Names()
    done = _Round()
    try:
        first = first_messages(source, target, prefix)
        data, reply = await _call(
            llm,
            usage,
            first,
            schema=translation_schema(len(source.bullets), len(source.questions), target),
            max_tokens=300 + 120 * len(source.bullets),
            on_text=on_text,
            retry_json=True,
        )
        if data is not None:
            names = checked_names(
                data.get("names"), " ".join([source.headline, *source.bullets, *cited])
            )
            done = _judge(data, source, cited, article, target, article_lang)
        missing_b = [i for i in range(len(source.bullets)) if i not in done.bullets]
        missing_q = [i for i in range(len(source.questions)) if i not in done.questions]
        if missing_b and done.problems:
            log.info("translation checks failed (%s): retry of the failed items", done.problems)
            if data is not None:
                log.info("failed translation: %s", json.dumps(data, ensure_ascii=False)[:600])
        if missing_b or (missing_q and len(done.questions) < len(source.questions)):
            metrics.LLM_REPAIRS.labels(kind="shape_retry").inc()
            conversation = retry_messages(
                first, reply, source, target, names, missing_b, missing_q, cited, done.problems
            )
            try:
                again, _ = await _call(
                    llm,
                    usage,
                    conversation,
                    schema=retry_schema(len(missing_b), len(missing_q), target),
                    max_tokens=200 + 120 * (len(missing_b) + len(missing_q)),
                )
            except LLMError as err:  # the first reply's verified items still count
                log.info("translation retry failed: %s", err.detail)
                again = None
            if again is not None:
                _merge(
                    again, done, source, cited, article, target, article_lang, missing_b, missing_q
                )
    except LLMError as err:
        raise err.spent(usage) from err
    try:
        return _finish(done, source, target, usage)
    except LLMError as err:
        raise err.spent(usage) from err


async def _call(
    llm: LLMClient,
    usage: Usage,
    messages: list[Message],
    *,
    schema: dict[str, Any],
    max_tokens: int,
    on_text: OnText | None = None,
    retry_json: bool = False,
) -> tuple[dict[str, Any] | None, str]:
    """One structured call on the conversation `messages` (one more, the JSON
    correction appended, when its JSON is unusable and `retry_json`): the data (None
    when no usable JSON came) and the reply's text. Raises LLMError when the server
    fails."""
    for attempt in (1, 2):
        try:
            got = await llm.chat_json(
                messages,
                schema_name="translation",
                schema=schema,
                max_tokens=max_tokens,
                on_text=on_text if attempt == 1 else None,
            )
        except LLMOutputError as err:
            usage.add_failed(err)
            if attempt == 2 or not retry_json:
                return None, ""
            note = load_prompt("summarize_retry_json").text.strip()
            messages = followed_by(messages, str(err.params.get("reply", "")), note)
            continue
        except LLMError as err:  # down, timed out, stream cut: what it spent counts
            usage.add_failed(err)
            raise
        usage.add(got.usage)
        return got.data, got.text
    return None, ""


def live_checks(
    source: LLMDraft, *, target: Lang, article_lang: Lang, sentences: Sequence[Sentence]
) -> tuple[Callable[[Any], str | None], Callable[[str], str | None]]:
    """The bullet and headline checks a translation being written passes before it is
    shown (`bot.summarize.live.LiveDraft`): a bullet faithful to one of the source's
    bullets (the final check pairs them one for one), a headline without debris or a
    number or name the source headline lacks."""
    cited = [
        evidence.cited_text(source.sources[i] if i < len(source.sources) else [], sentences)
        for i in range(len(source.bullets))
    ]

    seen: list[str] = []  # the bullets shown so far: a headline across languages rests on them

    def bullet(raw: Any) -> str | None:
        text = shape.clean(raw) if isinstance(raw, str) else ""
        if not text:
            return None
        for src, support in zip(source.bullets, cited, strict=True):
            if not _bullet_problem(text, src, support, target=target, article_lang=article_lang):
                shown = shape.finish_sentence(text, target)
                if shown not in seen:
                    seen.append(shown)
                return shown
        return None

    def headline(raw: str) -> str | None:
        text = shape.clean(raw).rstrip(".")
        if _headline_ok(text, source, target, article_lang, seen):
            return text
        return _first_words(seen[0]) if seen else None

    return bullet, headline


def _headline_ok(
    text: str, source: LLMDraft, target: Lang, article_lang: Lang, bullets: Sequence[str]
) -> bool:
    """A translated headline may be shown: no debris, the target language, no number of
    its own, and across languages no name the source digest lacks and most of its
    words in the verified translated `bullets` (the real 1.5B model headlined an
    article on Afghan workers in the UAE "... build its air force")."""
    if not text or shape.has_debris(text) or len(text.split()) > shape.MAX_HEADLINE_WORDS:
        return False
    if not language_ok(_PAREN_ARABIC.sub(" ", text), target):
        return False
    if all_unsupported([text], source_number_keys(source.headline)):
        return False
    if target != article_lang:
        support = " ".join([source.headline, *source.bullets])
        if not evidence.check_claim(text, support, same_language=False).ok:
            return False
        return evidence.word_support(text, " ".join(bullets)) >= evidence.MIN_SUPPORT
    return True


def _first_words(bullet: str) -> str:
    return " ".join(bullet.split()[: shape.MAX_HEADLINE_WORDS]).rstrip(".")


def first_messages(
    source: LLMDraft, target: Lang, prefix: list[Message] | None = None
) -> list[Message]:
    """The first translation call: the article's prefix (when the article is at hand),
    then the task with the target language and the digest as delimited JSON data; with
    no prefix the task is the system message."""
    payload = json.dumps(
        {"headline": source.headline, "bullets": source.bullets, "questions": source.questions},
        ensure_ascii=False,
    )
    request = (
        f"<target_language>{LANGUAGE_NAMES[target]}</target_language>\n\n"
        f"<digest>\n{evidence_safe(payload)}\n</digest>"
    )
    task = load_prompt("translate_digest").text.strip()
    if prefix:
        return with_task(prefix, task + "\n\n" + request)
    return [{"role": "system", "content": task}, {"role": "user", "content": request}]


def retry_messages(
    first: list[Message],
    reply: str,
    source: LLMDraft,
    target: Lang,
    names: _Names,
    bullets: Sequence[int],
    questions: Sequence[int],
    cited: Sequence[str],
    problems: dict[str, str],
) -> list[Message]:
    """The corrective retry, appended to the first call's conversation (its reply, then
    the correction): only the failed items, each bullet with its cited sentence beside
    it and what was wrong, and the checked name list."""
    items = [
        {
            "text": source.bullets[i],
            "evidence": cited[i],
            "problem": problems.get(f"bullet {i + 1}", ""),
        }
        for i in bullets
    ]
    payload = json.dumps(
        {
            "bullets": [it["text"] for it in items],
            "questions": [source.questions[i] for i in questions],
            "evidence": [it["evidence"] for it in items],
            "problems": [it["problem"] for it in items],
        },
        ensure_ascii=False,
    )
    correction = (
        load_prompt("translate_retry").text.strip() + "\n\n"
        f"<target_language>{LANGUAGE_NAMES[target]}</target_language>\n\n"
        f"<names>\n{evidence_safe(names.block())}\n</names>\n\n"
        f"<digest>\n{evidence_safe(payload)}\n</digest>"
    )
    return followed_by(first, reply, correction)


def evidence_safe(text: str) -> str:
    """The digest JSON made unable to close its own <digest> tag (bot/llm/defuse.py)."""
    return defuse(text)


def _strings(raw: Any) -> list[str]:
    return [shape.clean(str(x)) for x in raw] if isinstance(raw, list) else []


def _judge(
    data: dict[str, Any],
    source: LLMDraft,
    cited: Sequence[str],
    article: str,
    target: Lang,
    article_lang: Lang,
) -> _Round:
    """The first reply's checked items."""
    out = _Round()
    try:
        attempt = parse_attempt(data)
    except LLMOutputError:
        return out
    out.in_language = in_language(attempt, target)
    out.headline = shape.clean(attempt.headline).rstrip(".")
    bullets = [b.text for b in attempt.bullets]
    if len(bullets) != len(source.bullets):
        bullets = bullets[: len(source.bullets)]
    _take(bullets, range(len(bullets)), out, source, cited, article, target, article_lang)
    questions = attempt.questions[: len(source.questions)]
    _take_questions(questions, range(len(questions)), out, article, target, article_lang)
    return out


def _merge(
    data: dict[str, Any],
    out: _Round,
    source: LLMDraft,
    cited: Sequence[str],
    article: str,
    target: Lang,
    article_lang: Lang,
    bullets: Sequence[int],
    questions: Sequence[int],
) -> None:
    """The retry's checked items, merged into the first reply's."""
    got = _strings(data.get("bullets"))[: len(bullets)]
    _take(got, bullets, out, source, cited, article, target, article_lang)
    got_q = _strings(data.get("questions"))[: len(questions)]
    _take_questions(got_q, questions, out, article, target, article_lang)


def _take(
    texts: Sequence[str],
    indexes: Sequence[int],
    out: _Round,
    source: LLMDraft,
    cited: Sequence[str],
    article: str,
    target: Lang,
    article_lang: Lang,
) -> None:
    for text, i in zip(texts, indexes, strict=False):
        text = shape.clean(text)
        why = _bullet_problem(
            text, source.bullets[i], cited[i], target=target, article_lang=article_lang
        )
        twin = next((j for j, kept in out.bullets.items() if j != i and _same(text, kept)), None)
        if not why and twin is not None:  # a small model writes one sentence for several
            why = f"it repeats bullet {twin + 1}; translate this bullet's own sentence"
        if why:
            out.problems[f"bullet {i + 1}"] = f"«{text[:200]}» {why}"
        else:
            out.bullets[i] = shape.finish_sentence(text, target)
            out.problems.pop(f"bullet {i + 1}", None)


def _same(a: str, b: str) -> bool:
    """Two bullets that say the same words (case, spaces and the final stop aside)."""
    return " ".join(a.casefold().split()).rstrip(".") == " ".join(b.casefold().split()).rstrip(".")


def _take_questions(
    texts: Sequence[str],
    indexes: Sequence[int],
    out: _Round,
    article: str,
    target: Lang,
    article_lang: Lang,
) -> None:
    for text, i in zip(texts, indexes, strict=False):
        text = shape.finish_question(shape.clean(text), target)
        why = _question_problem(text, article, target=target, article_lang=article_lang)
        if not why:
            out.questions[i] = text


def _finish(done: _Round, source: LLMDraft, target: Lang, usage: Usage) -> LLMDraft:
    """The checked translation; too few bullets left (under the digest's `min_bullets`,
    or when that is unknown, under the source's count less one) fails."""
    keep = sorted(done.bullets)
    floor = source.min_bullets or max(1, len(source.bullets) - 1)
    if len(keep) < floor:
        problems = "; ".join(f"{k} {v}" for k, v in done.problems.items())
        raise LLMOutputError(f"the translation failed its checks: {problems or 'no reply'}")
    draft = LLMDraft(
        headline=done.headline,
        bullets=[done.bullets[i] for i in keep],
        questions=[],
        sources=[source.sources[i] for i in keep if i < len(source.sources)],
        quotes=[source.quotes[i] for i in keep if i < len(source.quotes)],
        usage=usage,
        dropped=source.dropped,
        quality=dict(source.quality),
    )
    lost = len(source.bullets) - len(keep)
    if lost:
        metrics.LLM_REPAIRS.labels(kind="unsupported_dropped").inc(lost)
        draft.quality["translation_dropped"] = lost
    questions, _ = shape.repair_items(
        [done.questions[i] for i in sorted(done.questions)],
        lang=target,
        questions=True,
        others=draft.bullets,
    )
    draft.questions = questions[:3]
    article_lang: Lang = "ar" if target == "en" else "en"
    if not _headline_ok(draft.headline, source, target, article_lang, draft.bullets):
        draft.headline = _first_words(draft.bullets[0])
    draft.quality["translated"] = 1
    return draft
