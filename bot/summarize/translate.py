"""A digest in the other language, translated item by item from a checked digest.

Used on purpose for every second-language digest whose first-language digest exists
(the English digest of an article whose Arabic digest is cached costs a few short
translations instead of a re-read of the article), and when a model will not write the
asked language from the article itself.

Each item (every bullet, then the headline, then every question) is one short call:
the translator's rules (`prompts/translator.md`), then the task with the item as
delimited JSON data (`prompts/translate_item.md`). A translated bullet keeps its source
bullet's citations. Checks, per item: one complete sentence (a question: one short
question), the target language, no refusal or note instead of a translation, not far
shorter than its source, every number of the source kept, and across languages no
number or name that is not in the source bullet or its cited sentences
(`bot.grounding.names`: names matched by their sounds), no repeat of another bullet. A
question is checked against its source question; the headline must rest on the verified
bullets.

An item that fails is translated again as a fresh sample (a higher temperature, the
same request): measured on the real 1.5B model (docs/benchmarks.md, "real-model
English"), a correction appended to the conversation gave the same wrong sentence back,
a whole-digest translation with a name list kept 2 to 13 of 46 bullets, and this
loop 36 of 46, 9 of 12 articles in English. The verified bullets of a partial
translation are kept down to the digest's minimum; fewer fail (`LLMOutputError`).

`prefix` (the article's messages, `bot/llm/article.py`) is sent before each task only
when `LLM_TRANSLATE_WITH_ARTICLE` is on: every request about the article then starts
with the same bytes, which a prompt cache rewards; measured on the 1.5B model, the
article before the task cost it English (4 of 12 articles against 6 of 12) and took
twice as long, so it is off by default.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import metrics
from bot.domain import Lang, Partial, Progress, Stage
from bot.errors import LLMError
from bot.grounding import evidence
from bot.grounding.evidence import Sentence
from bot.grounding.guards import all_unsupported, language_ok, source_number_keys
from bot.llm.article import with_task
from bot.llm.client import TEMPERATURE, LLMClient, Message, Usage
from bot.llm.defuse import defuse
from bot.llm.prompts import load_prompt
from bot.llm.replies import LLMOutputError
from bot.llm.tokens import count_tokens
from bot.summarize import shape
from bot.summarize.schema import text_field
from bot.summarize.writer import _PAREN_ARABIC, LANGUAGE_NAMES, LLMDraft

log = logging.getLogger(__name__)

MAX_TRIES = 3  # an item: its first translation, then fresh samples while it fails
RESAMPLE_TEMPERATURE = 0.8
ITEM_TOKENS = 200  # the reply: one sentence as JSON
SYSTEM_PROMPT = "translator"
TASK_PROMPT = "translate_item"
_KINDS = {
    "bullet": ("one bullet", "one complete sentence"),
    "headline": ("the headline", "one short headline"),
    "question": ("one suggested question", "one short question ending with a question mark"),
}
# a refusal or a note about the text instead of its translation (the real 1.5B model:
# "I'm sorry, but I can't assist with that request.", "The English translation of the
# given Arabic sentence is: ...")
_NOT_A_TRANSLATION = re.compile(
    r"\b(?:I'?m sorry|I am sorry|I can(?:no|'|’)t|as an AI|translat\w*|the (?:given )?"
    r"(?:Arabic|English) (?:text|sentence))\b|عذر[اًا]|لا أستطيع|ترجم",
    re.IGNORECASE,
)
MIN_LENGTH_RATIO = 0.4  # words of a translation against its source's (8 words or more)
# double quotes in an item become single ones before it is sent: English fields carry a
# pattern without `"` (schema.LATIN_TEXT), so the real 1.5B model, mirroring the
# source's “قلقة جدا”, ended its string there ("... the United States is") every time
_DOUBLE_QUOTES = str.maketrans({'"': "'", "“": "'", "”": "'", "„": "'", "«": "'", "»": "'"})


def translation_estimate(items: int, *, digest_tokens: int, article_tokens: int = 0) -> int:
    """Upper-leaning token cost of translating a digest of `items` (bullets, headline,
    questions) whose text is about `digest_tokens`: each item's request (the rules and
    the task, or the article's messages before the task: `article_tokens`) and reply,
    the digest read and written once across them, and half as much again for fresh
    samples (at most as many as the items)."""
    per_item = _rules_tokens() + article_tokens + 60  # the language, tags, reply's JSON
    return int(1.5 * (items * per_item + 2 * digest_tokens))


@functools.cache
def _rules_tokens() -> int:
    """The translator's rules and task, counted once (`estimate` runs many times while
    a budget's cut is searched)."""
    return count_tokens(load_prompt(SYSTEM_PROMPT).text) + count_tokens(
        load_prompt(TASK_PROMPT).text
    )


def item_schema(target: Lang) -> dict[str, Any]:
    """The reply to one item: its translation (English: Arabic only in parentheses)."""
    return {
        "type": "object",
        "properties": {"translation": text_field(target)},
        "required": ["translation"],
        "additionalProperties": False,
    }


def item_messages(
    kind: str, text: str, target: Lang, prefix: list[Message] | None = None
) -> list[Message]:
    """One item's request: the translator's rules (or the article's prefix), then the
    task with the language and the item as delimited JSON data, last, so the requests of
    one translation share all but their end."""
    what, form = _KINDS[kind]
    language = LANGUAGE_NAMES[target]
    task = load_prompt(TASK_PROMPT).render(kind=what, shape=form, language=language)
    payload = json.dumps({"text": text.translate(_DOUBLE_QUOTES)}, ensure_ascii=False)
    request = (
        f"{task}\n\n<target_language>{language}</target_language>\n\n"
        f"<digest>\n{evidence_safe(payload)}\n</digest>"
    )
    if prefix:
        return with_task(prefix, request)
    system = load_prompt(SYSTEM_PROMPT).text.strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": request}]


def _faithful_form(text: str, source: str, target: Lang) -> str:
    """Why `text` is not a translation of `source` into `target` at all ('' when it may
    be one): another language, a refusal or a note, most of it or a number left out."""
    if not language_ok(_PAREN_ARABIC.sub(" ", text), target):
        return f"is not in {LANGUAGE_NAMES[target]}"
    if _NOT_A_TRANSLATION.search(text):
        return "is a note or a refusal, not a translation"
    words = len(source.split())
    if words >= 8 and len(text.split()) < MIN_LENGTH_RATIO * words:
        return "leaves most of its source out"
    lost = all_unsupported([source], source_number_keys(text))
    if lost:
        return f"leaves out the numbers {', '.join(lost)}"
    return ""


def _bullet_problem(
    text: str, source_bullet: str, cited: str, *, target: Lang, article_lang: Lang
) -> str:
    """Why a translated bullet is not faithful to its source bullet ('' when it is)."""
    if not shape.complete_sentence(text) or shape.has_debris(text):
        return "is not one complete sentence"
    why = _faithful_form(text, source_bullet, target)
    if why:
        return why
    support = f"{source_bullet} {cited}"
    same = target == article_lang
    check = evidence.check_claim(text, support, same_language=same)
    if not check.ok and not same:
        return check.reason.replace("cited sentences", "article")
    return ""


def _question_problem(text: str, source_question: str, *, target: Lang, article_lang: Lang) -> str:
    """Why a translated question may not be shown ('' when it may): its shape, its
    form against `source_question`, and (across languages) its numbers and names,
    against that question: a short text, where a short invented name ("Obama": b-m)
    cannot find a chance match, as it does in a whole article."""
    if not shape.good_question(text) or shape.has_debris(text):
        return "is not one short question ending with a question mark"
    why = _faithful_form(text, source_question, target)
    if why:
        return why
    if target != article_lang:
        check = evidence.check_claim(text, source_question, same_language=False)
        if not check.ok:
            return check.reason.replace("cited sentences", "article")
    return ""


@dataclass
class _Round:
    """The translation so far: checked items by index, and why the others failed."""

    bullets: dict[int, str] = field(default_factory=dict)
    questions: dict[int, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # "bullet 2" -> why
    headline: str = ""


@dataclass
class _Translator:
    """Item by item: each one's request, its checks, fresh samples while it fails (at
    most `spare` in all, so a translation costs at most twice its items)."""

    llm: LLMClient
    usage: Usage
    target: Lang
    prefix: list[Message] | None
    spare: int

    async def item(self, kind: str, text: str, problem: Callable[[str], str]) -> tuple[str, str]:
        """(the checked translation of `text`, '') or ('', why the last try failed).
        Raises LLMError when the server fails."""
        messages = item_messages(kind, text, self.target, self.prefix)
        why = "got no usable reply"
        for attempt in range(MAX_TRIES):
            if attempt:
                if self.spare <= 0:
                    break
                self.spare -= 1
                metrics.LLM_REPAIRS.labels(kind="translation_resampled").inc()
            try:
                got = await self.llm.chat_json(
                    messages,
                    schema_name="translation",
                    schema=item_schema(self.target),
                    max_tokens=ITEM_TOKENS,
                    temperature=RESAMPLE_TEMPERATURE if attempt else TEMPERATURE,
                )
            except LLMOutputError as err:  # no JSON, cut twice: what it spent counts
                self.usage.add_failed(err)
                continue
            except LLMError as err:
                self.usage.add_failed(err)
                raise
            self.usage.add(got.usage)
            out = shape.clean(str(got.data.get("translation") or ""))
            why = problem(out) if out else "is empty"
            if not why:
                return out, ""
            log.info("translated %s refused (%s): %s", kind, why, out[:200])
        return "", why


async def translate_draft(
    llm: LLMClient,
    source: LLMDraft,
    *,
    target: Lang,
    article_lang: Lang,
    sentences: Sequence[Sentence],
    progress: Progress | None = None,
    prefix: list[Message] | None = None,
) -> LLMDraft:
    """Return `source` translated into `target`, checked, item by item (see the module
    doc); each verified bullet is shown through `progress` as `Stage("writing")`.
    `prefix`: the article's messages, sent before each task (None: the translator's
    own short rules). Raises LLMError (with usage)."""
    usage = Usage()
    cited = [
        evidence.cited_text(source.sources[i] if i < len(source.sources) else [], sentences)
        for i in range(len(source.bullets))
    ]
    items = len(source.bullets) + 1 + len(source.questions)
    prefix = prefix if llm.translate_with_article else None
    tr = _Translator(llm, usage, target, prefix, spare=items)
    done = _Round()
    try:
        for i, bullet in enumerate(source.bullets):

            def bullet_problem(text: str, i: int = i, bullet: str = bullet) -> str:
                why = _bullet_problem(
                    text, bullet, cited[i], target=target, article_lang=article_lang
                )
                if not why and any(_same(text, kept) for kept in done.bullets.values()):
                    return "repeats another bullet"  # one sentence written for several
                return why

            text, why = await tr.item("bullet", bullet, bullet_problem)
            if text:
                done.bullets[i] = shape.finish_sentence(text, target)
                await _show(progress, done, target)
            else:
                done.problems[f"bullet {i + 1}"] = why
            left = len(source.bullets) - i - 1
            if len(done.bullets) + left < _floor(source):
                break  # too few can pass now: spend nothing more on it
        _check_floor(done, source)
        verified = [done.bullets[i] for i in sorted(done.bullets)]

        def headline_problem(text: str) -> str:
            why = _faithful_form(text, source.headline, target)
            if why:
                return why
            ok = _headline_ok(text.rstrip("."), source, target, article_lang, verified)
            return "" if ok else "does not rest on the translated bullets"

        if source.headline:
            text, _ = await tr.item("headline", source.headline, headline_problem)
            done.headline = text.rstrip(".")
            if done.headline:
                await _show(progress, done, target)
        for i, question in enumerate(source.questions):

            def question_problem(text: str, question: str = question) -> str:
                text = shape.finish_question(text, target)
                return _question_problem(text, question, target=target, article_lang=article_lang)

            text, _ = await tr.item("question", question, question_problem)
            if text:
                done.questions[i] = shape.finish_question(text, target)
        return _finish(done, source, target, usage)
    except LLMError as err:
        raise err.spent(usage) from err


def _floor(source: LLMDraft) -> int:
    """The fewest verified bullets a translation may have: the digest's `min_bullets`,
    or when that is unknown, the source's count less one."""
    return source.min_bullets or max(1, len(source.bullets) - 1)


def _check_floor(done: _Round, source: LLMDraft) -> None:
    """Too few verified bullets fail the translation."""
    if len(done.bullets) < _floor(source):
        problems = "; ".join(f"{k} {v}" for k, v in done.problems.items())
        raise LLMOutputError(f"the translation failed its checks: {problems or 'no reply'}")


async def _show(progress: Progress | None, done: _Round, target: Lang) -> None:
    """The verified bullets so far, in order (a failed one is final: the items go one
    by one), under the translated headline once it is checked (the first bullet's
    words until then)."""
    if progress is None:
        return
    shown = [done.bullets[i] for i in sorted(done.bullets)]
    if shown:
        headline = done.headline or _first_words(shown[0])
        part = Partial(lang=target, headline=headline, bullets=tuple(shown))
        await progress(Stage("writing", partial=part))


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


def evidence_safe(text: str) -> str:
    """The digest JSON made unable to close its own <digest> tag (bot/llm/defuse.py)."""
    return defuse(text)


def _same(a: str, b: str) -> bool:
    """Two bullets that say the same words (case, spaces and the final stop aside)."""
    return " ".join(a.casefold().split()).rstrip(".") == " ".join(b.casefold().split()).rstrip(".")


def _finish(done: _Round, source: LLMDraft, target: Lang, usage: Usage) -> LLMDraft:
    """The checked translation (its headline: the translated one if it rests on the
    kept bullets, else the first bullet's words)."""
    _check_floor(done, source)
    keep = sorted(done.bullets)
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
