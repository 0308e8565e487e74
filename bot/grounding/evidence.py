"""Evidence anchoring (pure functions): the article as numbered sentences, and the check
that each bullet rests on the sentences it cites.

The model gets the article as `[1] first sentence`, `[2] …` (paragraphs kept apart by a
blank line) and names, for each bullet, the ids of the sentences it rests on. A bullet is
**supported** when, against its cited sentences:

* every number of two or more digits in it appears there (`guards.source_number_keys`);
* in the article's own language, at least `MIN_SUPPORT` of its content words appear
  there (normalized Arabic: no tashkeel, unified alef/ya/ta marbuta, the definite
  article and one-letter prefixes stripped, light suffix stripping), and it does not
  flip the cited sentence's meaning ("ended" where the sentence says "began": the
  `POLARITY` pairs);
* in another language (an English digest of an Arabic article), where words cannot be
  compared: numbers, every name the digest keeps in the article's own script (the
  prompt asks for "Bashar al-Assad (بشار الأسد)"), and every English name, matched by
  its consonants (`names.py`: "Suleiman" ~ "سليمان"), must appear there.

A bullet whose citation is wrong but whose support is elsewhere in the article is
re-anchored to the best sentences (`anchor`); one with no support anywhere is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from bot.grounding.guards import source_number_keys, unsupported_numbers
from bot.grounding.names import unmatched_names
from bot.grounding.stopwords import stopwords
from bot.ingest.arabic import normalize_for_match, split_sentences, tokens

MIN_SUPPORT = 0.5  # share of a bullet's content words found in its cited sentences
MAX_CITED = 3  # sentences a re-anchored bullet may rest on
QUOTE_CHARS = 280  # longest quote shown to the user per bullet

# Opposite meanings, as normalized prefixes: a bullet with one side whose cited sentences
# hold only the other has flipped the fact.
POLARITY: tuple[tuple[str, str], ...] = (
    ("بدا", "انته"),
    ("بدء", "انته"),
    ("بدايه", "نهايه"),
    ("ارتفع", "انخفض"),
    ("ارتفاع", "انخفاض"),
    ("زياده", "تراجع"),
    ("وافق", "رفض"),
    ("موافقه", "رفض"),
    ("فاز", "خسر"),
    ("فوز", "خساره"),
    ("فتح", "اغلق"),
    ("سمح", "منع"),
    ("ايد", "عارض"),
    ("نجح", "فشل"),
    ("اكد", "نفي"),
    ("began", "end"),
    ("begin", "end"),
    ("start", "end"),
    ("rose", "fell"),
    ("rise", "fall"),
    ("increase", "decrease"),
    ("accept", "reject"),
    ("approve", "reject"),
    ("won", "lost"),
    ("win", "lose"),
    ("open", "close"),
    ("allow", "ban"),
    ("agree", "refuse"),
    ("confirm", "deny"),
    ("support", "oppose"),
)

_ARABIC_RUN = re.compile(r"[\u0600-\u06ff][\u0600-\u06ff\s]*[\u0600-\u06ff]")
_PREFIX = re.compile(r"^(?:[وفبلك])(?=[^\W\d_]{3})")
_SUFFIX = re.compile(r"(?<=[^\W\d_]{3})(?:هما|كما|ها|هم|كم|نا|ات|ون|ين|ان|يه|ه|ي)$")


@dataclass(frozen=True)
class Sentence:
    """One numbered sentence of the article (`id` counts from 1)."""

    id: int
    text: str
    paragraph: int


def number_sentences(text: str) -> list[Sentence]:
    """Return the sentences of `text` in order, numbered from 1, with their paragraph."""
    out: list[Sentence] = []
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    for p_index, para in enumerate(paragraphs):
        for sentence in split_sentences(para, commas=False):
            out.append(Sentence(len(out) + 1, sentence, p_index))
    return out


def numbered_text(sentences: Sequence[Sentence]) -> str:
    """The sentences as the model reads them: `[id] text`, one per line, paragraphs
    separated by a blank line."""
    lines: list[str] = []
    last = None
    for s in sentences:
        if last is not None and s.paragraph != last:
            lines.append("")
        lines.append(f"[{s.id}] {s.text}")
        last = s.paragraph
    return "\n".join(lines)


def stem(word: str) -> str:
    """A light stem of a normalized token: one-letter prefixes (و ف ب ل ك) and common
    suffixes stripped while three letters remain; English plural/verb endings too."""
    if word.isascii():
        for end in ("ing", "ed", "es", "s"):
            if len(word) > len(end) + 3 and word.endswith(end):
                return word[: -len(end)]
        return word
    return _SUFFIX.sub("", _PREFIX.sub("", word))


@cache
def _stop_stems() -> frozenset[str]:
    return frozenset(stem(w) for w in stopwords())


def content_stems(text: str) -> list[str]:
    """The stems of the content words of `text` (no stopwords, numbers or 1-2 letter words)."""
    return list(_content_stems(text))


@lru_cache(maxsize=8192)
def _content_stems(text: str) -> tuple[str, ...]:
    stop = _stop_stems()
    out = []
    for word in tokens(text):
        if word[0].isdigit() or len(word) < 3:
            continue
        s = stem(word)
        if s not in stop and word not in stopwords():
            out.append(s)
    return tuple(out)


def _matches(word: str, pool: set[str]) -> bool:
    if word in pool:
        return True
    if len(word) >= 5:  # a derived form: same first five letters
        head = word[:5]
        return any(p.startswith(head) for p in pool if len(p) >= 5)
    return False


def word_support(claim: str, source: str) -> float:
    """Share of the content words of `claim` found in `source` (1.0 when it has none)."""
    words = content_stems(claim)
    if not words:
        return 1.0
    pool = set(content_stems(source))
    return sum(_matches(w, pool) for w in words) / len(words)


def flipped(claim: str, source: str) -> bool:
    """True when `claim` says the opposite of `source` (a POLARITY pair: the claim holds
    one side, the source only the other)."""
    claim_words = tokens(claim)
    source_words = tokens(source)

    def has(words: list[str], prefix: str) -> bool:
        return any(w.startswith(prefix) or stem(w).startswith(prefix) for w in words)

    for a, b in POLARITY:
        for mine, theirs in ((a, b), (b, a)):
            if has(claim_words, mine) and not has(source_words, mine) and has(source_words, theirs):
                return True
    return False


def foreign_names(claim: str) -> list[str]:
    """Runs of Arabic script inside a mostly non-Arabic claim (names kept in the
    article's spelling, usually in parentheses)."""
    return [m.group() for m in _ARABIC_RUN.finditer(claim)]


@dataclass(frozen=True)
class Check:
    """The verdict on one bullet: supported or not, and why not (for the correction)."""

    ok: bool
    reason: str = ""


def check_claim(claim: str, source: str | Sequence[str], *, same_language: bool) -> Check:
    """Does `source` (the cited sentences, joined or as a list) support `claim`? See
    the module docstring. A flip in any one cited sentence that holds one of the
    claim's numbers counts, so joining sentences cannot hide it."""
    parts = [source] if isinstance(source, str) else list(source)
    source = " ".join(parts)
    bad = unsupported_numbers(claim, source_number_keys(source))
    if bad:
        return Check(False, f"its numbers {', '.join(bad)} are not in the cited sentences")
    if same_language:
        numbers = source_number_keys(" ".join(unsupported_numbers(claim, set())))
        if flipped(claim, source) or any(
            flipped(claim, part) for part in parts if numbers & source_number_keys(part)
        ):
            return Check(False, "it says the opposite of the cited sentences")
        if word_support(claim, source) < MIN_SUPPORT:
            return Check(False, "the cited sentences do not say this")
        return Check(True)
    norm_source = normalize_for_match(source)
    for name in foreign_names(claim):
        if normalize_for_match(name) not in norm_source:
            return Check(False, f"the name ({name}) is not spelled so in the cited sentences")
    missing = unmatched_names(claim, source)
    if missing:
        return Check(False, f"the names {', '.join(missing)} are not in the cited sentences")
    return Check(True)


def cited_text(ids: Sequence[int], sentences: Sequence[Sentence]) -> str:
    """The cited sentences' text joined (unknown ids ignored)."""
    by_id = {s.id: s.text for s in sentences}
    return " ".join(by_id[i] for i in ids if i in by_id)


def cited_parts(ids: Sequence[int], sentences: Sequence[Sentence]) -> list[str]:
    """The cited sentences' texts (unknown ids ignored)."""
    by_id = {s.id: s.text for s in sentences}
    return [by_id[i] for i in ids if i in by_id]


def valid_ids(ids: Sequence[int], sentences: Sequence[Sentence]) -> list[int]:
    """`ids` that name a sentence, in order, without duplicates."""
    known = {s.id for s in sentences}
    out: list[int] = []
    for i in ids:
        if i in known and i not in out:
            out.append(i)
    return out


def anchor(claim: str, sentences: Sequence[Sentence], *, same_language: bool) -> list[int]:
    """The ids of the sentences that best support `claim` (at most MAX_CITED), or []
    when no such set supports it."""
    if not sentences:
        return []
    if same_language:
        words = set(content_stems(claim))

        def overlap(s: Sentence) -> float:
            pool = set(content_stems(s.text))
            return sum(_matches(w, pool) for w in words)

        ranked = sorted(sentences, key=lambda s: (-overlap(s), s.id))
    else:
        wanted = set(source_number_keys(" ".join(unsupported_numbers(claim, set()))))

        def hits(s: Sentence) -> int:
            return len(wanted & source_number_keys(s.text))

        ranked = sorted(sentences, key=lambda s: (-hits(s), s.id))
    for n in range(1, MAX_CITED + 1):
        ids = sorted(s.id for s in ranked[:n])
        if check_claim(claim, cited_parts(ids, sentences), same_language=same_language).ok:
            return ids
    return []


def quote(ids: Sequence[int], sentences: Sequence[Sentence]) -> str:
    """The cited sentences as the user sees them, shortened to QUOTE_CHARS."""
    text = cited_text(ids, sentences)
    if len(text) <= QUOTE_CHARS:
        return text
    return text[:QUOTE_CHARS].rsplit(" ", 1)[0] + "…"
