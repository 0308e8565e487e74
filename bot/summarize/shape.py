"""Output-shape rules for a digest (pure functions), and their repair.

Real small models return digests that parse but are not digests: too few or too many
bullets, a bullet cut off mid-sentence, the same bullet twice, an article paragraph or
a lone "{" as a "question", JSON debris ("\\"bullets\\": [") inside a field. The rules:

* bullets: within the asked range, each a complete sentence of at least MIN_WORDS
  words, none repeated;
* questions: short (at most MAX_QUESTION_WORDS words), ending with "?" or "؟", none
  repeated, none a copy of a bullet;
* no JSON debris in any field; the headline at most MAX_HEADLINE_WORDS words.

`problems(...)` lists what is wrong, in words the model can act on (the corrective
retry); `repair_items(...)` keeps what can be kept: it trims stray quotes and commas,
ends a complete bullet without a final stop with one, and drops the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.grounding.sentence import MIN_WORDS as MIN_WORDS
from bot.grounding.sentence import SENTENCE_END
from bot.grounding.sentence import complete_sentence as complete_sentence
from bot.grounding.sentence import has_debris as has_debris
from bot.grounding.sentence import is_cut as is_cut
from bot.ingest.arabic import tokens

MAX_QUESTION_WORDS = 22
MAX_QUESTION_CHARS = 180
MAX_HEADLINE_WORDS = 22
DUPLICATE_JACCARD = 0.8

_TRIM = re.compile(r"^[\s\"',:;\-–—•*]+|[\s\"',:;\-–—]+$")
_QUESTION_END = re.compile(r"[?؟]['\"”’»)]*$")
_INTERROGATIVE = frozenset(
    tokens(
        "هل ما ماذا من متى أين كيف لماذا لم كم أي أية "
        "who what when where why how which whom whose is are was were do does did can will"
    )
)


@dataclass(frozen=True)
class Range:
    """How many bullets a digest may have."""

    lo: int
    hi: int


def bullet_range(lo: int, hi: int, sentences: int) -> Range:
    """The asked range, narrowed for a short article: no more bullets than it has
    sentences, and at least about half of them (so a three-paragraph item is not
    padded to six bullets)."""
    top = max(1, min(hi, sentences))
    return Range(lo=max(1, min(lo, (sentences + 1) // 2, top)), hi=top)


def _norm_words(text: str) -> set[str]:
    return set(tokens(text))


def similar(a: str, b: str) -> bool:
    """True when two items say the same words (Jaccard of normalized words, or one
    inside the other)."""
    wa, wb = _norm_words(a), _norm_words(b)
    if not wa or not wb:
        return a.strip() == b.strip()
    inter = len(wa & wb)
    return inter / len(wa | wb) >= DUPLICATE_JACCARD or inter == min(len(wa), len(wb))


def clean(text: str) -> str:
    """Whitespace collapsed; stray quotes, commas and list marks trimmed at both ends,
    unless the quote is balanced inside."""
    text = " ".join(text.split())
    trimmed = _TRIM.sub("", text)
    for quote in ('"', "'"):
        if text.endswith(quote) and trimmed.count(quote) % 2 == 1:
            trimmed += quote
    return trimmed


def good_question(text: str) -> bool:
    """Short and shaped like a question: ends with ? or ؟ (or starts with a question
    word, so the mark can be added), no debris."""
    words = text.split()
    if not (2 <= len(words) <= MAX_QUESTION_WORDS) or len(text) > MAX_QUESTION_CHARS:
        return False
    if has_debris(text):
        return False
    first = tokens(words[0])
    return bool(_QUESTION_END.search(text)) or bool(first and first[0] in _INTERROGATIVE)


def problems(
    headline: str, bullets: Sequence[str], questions: Sequence[str], want: Range
) -> list[str]:
    """What breaks the shape rules, as instructions for a corrective retry ([] if none)."""
    out: list[str] = []
    if not headline.strip() or has_debris(headline):
        out.append("the headline is empty or holds JSON text")
    elif len(headline.split()) > MAX_HEADLINE_WORDS:
        out.append(f"the headline is longer than {MAX_HEADLINE_WORDS} words")
    if not want.lo <= len(bullets) <= want.hi:
        out.append(f"write {want.lo} to {want.hi} bullets (you wrote {len(bullets)})")
    for i, b in enumerate(bullets, 1):
        if has_debris(b):
            out.append(f"bullet {i} holds JSON text")
        elif not complete_sentence(b):
            out.append(f"bullet {i} is not a complete sentence")
        elif any(similar(b, other) for other in bullets[: i - 1]):
            out.append(f"bullet {i} repeats an earlier bullet")
    if len(questions) < 3:
        out.append(f"write at least 3 questions (you wrote {len(questions)})")
    for i, q in enumerate(questions, 1):
        if not good_question(q):
            out.append(f"question {i} is not a short question")
        elif any(similar(q, other) for other in [*questions[: i - 1], *bullets]):
            out.append(f"question {i} repeats another item")
    return out


def finish_sentence(text: str, lang: str) -> str:
    """`text` ending with a full stop (kept as is when it already ends a sentence)."""
    return text if SENTENCE_END.search(text) else text + "."


def finish_question(text: str, lang: str) -> str:
    """`text` ending with the question mark of its language."""
    if _QUESTION_END.search(text):
        return text
    return text.rstrip(".") + ("؟" if lang == "ar" else "?")


def repair_items(
    items: Sequence[str], *, lang: str, questions: bool, others: Sequence[str] = ()
) -> tuple[list[str], int]:
    """Keep the items that meet the rules (trimmed, with their final mark), drop the
    rest; return (kept, how many were dropped)."""
    kept: list[str] = []
    for raw in items:
        item = clean(raw)
        if questions:
            ok = good_question(item)
            item = finish_question(item, lang) if ok else item
        else:
            ok = not has_debris(item) and complete_sentence(item)
            item = finish_sentence(item, lang) if ok else item
        if ok and not any(similar(item, k) for k in [*kept, *others]):
            kept.append(item)
    return kept, len(items) - len(kept)
