"""Offline extractive summarizer: the digest when there is no LLM (or it keeps failing).

Sentences (split with `split_sentences`, which handles . ؟ ! ، correctly) are scored on
three things, all on normalized words (`tokens`: tashkeel, alef forms and the definite
article folded away):

* word frequency: the sum of the article-wide frequencies of the sentence's content
  words, divided by the square root of its length (so long sentences do not win by size);
* position: earlier sentences score higher (news is written top-down);
* title overlap: the share of the title's words the sentence contains.

The best sentences, without near-duplicates, are returned in article order, in the
article's own language (nothing is translated).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from bot.domain import Article, Length
from bot.grounding.stopwords import stopwords
from bot.ingest.arabic import split_sentences, tokens

BULLETS = {"short": 4, "detailed": 8}
MIN_WORDS = 5
MAX_CHARS = 320
HEADLINE_CHARS = 140
W_POSITION = 0.35
W_TITLE = 0.4
DUPLICATE_JACCARD = 0.5


@dataclass
class _Sentence:
    index: int
    text: str
    words: list[str]
    score: float = 0.0


def _content(words: list[str]) -> list[str]:
    stop = stopwords()
    return [w for w in words if w not in stop and not w[0].isdigit()]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _shorten(text: str, limit: int) -> str:
    text = text.rstrip(" ،,;؛:")  # a clause cut at a comma ends without it
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ،,;:")
    return cut + "…"


def score_sentences(article: Article) -> list[tuple[float, str]]:
    """Return (score, sentence) for every usable sentence of `article`, in article order.

    Sentences under five words, and ones repeating the title, are left out.
    """
    title_words = set(_content(tokens(article.title or "")))
    candidates: list[_Sentence] = []
    for index, text in enumerate(split_sentences(article.text)):
        words = tokens(text)
        if len(words) < MIN_WORDS:
            continue
        if title_words and _jaccard(set(_content(words)), title_words) > 0.8:
            continue  # the title repeated as the first line
        candidates.append(_Sentence(index, text, words))
    if not candidates:
        return []
    freq = Counter(w for s in candidates for w in _content(s.words))
    raw = []
    for s in candidates:
        content = _content(s.words)
        raw.append(sum(freq[w] for w in set(content)) / math.sqrt(max(len(content), 1)))
    top = max(raw) or 1.0
    for rank, (s, value) in enumerate(zip(candidates, raw, strict=True)):
        position = 1.0 / (1.0 + 0.25 * rank)
        overlap = len(set(_content(s.words)) & title_words) / len(title_words) if title_words else 0
        s.score = value / top + W_POSITION * position + W_TITLE * overlap
    return [(s.score, s.text) for s in candidates]


def summarize_extractive(article: Article, *, length: Length = "short") -> tuple[str, list[str]]:
    """Return (headline, bullets) picked from the article's own sentences.

    The headline is the article's title, or its best sentence shortened. Bullets are the
    best-scoring sentences (4 for short, 8 for detailed), near-duplicates removed, in
    article order. With no usable sentence, the first paragraph is the only bullet.
    """
    scored = score_sentences(article)
    want = BULLETS[length]
    picked: list[tuple[int, str]] = []
    picked_words: list[set[str]] = []
    order = sorted(range(len(scored)), key=lambda i: -scored[i][0])
    headline = (article.title or "").strip()
    for i in order:
        text = scored[i][1]
        words = set(_content(tokens(text)))
        if any(_jaccard(words, other) > DUPLICATE_JACCARD for other in picked_words):
            continue
        if not headline:
            headline = _shorten(text, HEADLINE_CHARS)
            if len(text) <= HEADLINE_CHARS:
                picked_words.append(words)
                continue  # used whole as the headline: not repeated as a bullet
        picked.append((i, _shorten(text, MAX_CHARS)))
        picked_words.append(words)
        if len(picked) >= want:
            break
    bullets = [text for _, text in sorted(picked)]
    if not bullets:
        first = article.paragraphs[0] if article.paragraphs else article.text
        bullets = [_shorten(first.strip(), MAX_CHARS)]
    if not headline:
        headline = _shorten(bullets[0], HEADLINE_CHARS)
    return headline, bullets
