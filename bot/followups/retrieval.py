"""Lexical retrieval over an article: passages, BM25 ranking, budgeted selection, quote check.

Everything here is pure (no I/O). Words are compared in their normalized form
(`bot.ingest.arabic.tokens`: no diacritics or tatweel; unified alef, ya and ta
marbuta; the article prefix stripped), so "الاتفاقية" in a question finds
"اتفاقيه" in the text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.ingest.arabic import normalize_for_match, split_sentences, tokens
from bot.llm.chunks import pack

Query = Mapping[str, float]

_NON_WORD = re.compile(r"[^\w\s]+", re.UNICODE)
_UNDERSCORE = re.compile(r"_+")
MIN_QUOTE_WORDS = 3


@dataclass
class BM25:
    """Okapi BM25 over pre-tokenized documents.

    `scores(query)` returns one score per document (0.0 when no query word occurs);
    `rank(query)` returns document indices best first, ties broken by position.
    """

    docs: Sequence[Sequence[str]]
    k1: float = 1.5
    b: float = 0.75
    _tf: list[Counter[str]] = field(init=False, repr=False)
    _len: list[int] = field(init=False, repr=False)
    _df: Counter[str] = field(init=False, repr=False)
    _avgdl: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tf = [Counter(doc) for doc in self.docs]
        self._len = [len(doc) for doc in self.docs]
        self._df = Counter(term for tf in self._tf for term in tf)
        self._avgdl = (sum(self._len) / len(self._len)) if self._len else 0.0

    def idf(self, term: str) -> float:
        """Inverse document frequency (the non-negative "+1" variant)."""
        n = len(self.docs)
        df = self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def scores(self, query: Query | Sequence[str]) -> list[float]:
        """One BM25 score per document for `query` (words, or word -> weight)."""
        weights = _as_weights(query)
        avgdl = self._avgdl or 1.0
        out: list[float] = []
        for tf, dl in zip(self._tf, self._len, strict=True):
            total = 0.0
            norm = self.k1 * (1.0 - self.b + self.b * dl / avgdl)
            for term, weight in weights.items():
                f = tf.get(term, 0)
                if f:
                    total += weight * self.idf(term) * f * (self.k1 + 1.0) / (f + norm)
            out.append(total)
        return out

    def rank(self, query: Query | Sequence[str]) -> list[int]:
        """Document indices, best score first; equal scores keep document order."""
        scores = self.scores(query)
        return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def _as_weights(query: Query | Sequence[str]) -> dict[str, float]:
    if isinstance(query, Mapping):
        return {str(k): float(v) for k, v in query.items() if v > 0}
    weights: dict[str, float] = {}
    for term in query:
        weights[term] = weights.get(term, 0.0) + 1.0
    return weights


def question_query(question: str, previous: str | None = None) -> dict[str, float]:
    """Query weights for a question; words of the previous question count half.

    The previous question helps a short follow-up ("and when?") find its passage.
    """
    weights: dict[str, float] = {}
    for term in tokens(question):
        weights[term] = weights.get(term, 0.0) + 1.0
    if previous:
        for term in tokens(previous):
            weights[term] = weights.get(term, 0.0) + 0.5
    return weights


def split_passages(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Cut an article into passages: its paragraphs, long ones as sentence windows.

    A paragraph of at most `max_tokens` (measured with `count`) is one passage. A
    longer one is cut into consecutive windows of whole sentences, each at most
    `max_tokens`; a single sentence longer than that is cut between words.
    Returns passages in article order; their concatenation keeps every word.
    """
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    out: list[str] = []
    for para in paragraphs:
        if count(para) <= max_tokens:
            out.append(para)
            continue
        out += pack(_sentences(para, max_tokens, count), max_tokens, count, " ")
    return out


def _sentences(para: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Sentences of `para`; any sentence over `max_tokens` is cut between words."""
    out: list[str] = []
    for sentence in split_sentences(para) or [para]:
        if count(sentence) <= max_tokens:
            out.append(sentence)
            continue
        piece: list[str] = []
        used = 0
        for word in sentence.split():
            n = count(" " + word)  # per-word counts add up to about the whole's count
            if piece and used + n > max_tokens:
                out.append(" ".join(piece))
                piece, used = [], 0
            if not piece:
                n = count(word)  # a leading word costs more than the same word after a space
            piece.append(word)
            used += n
        if piece:
            out.append(" ".join(piece))
    return out


def greedy(order: Sequence[int], sizes: Sequence[int], budget_tokens: int) -> list[int]:
    """Take items in `order` while they fit in `budget_tokens` (one too big for what is
    left is skipped); return the taken indices in ascending order."""
    chosen: list[int] = []
    used = 0
    for i in order:
        if used + sizes[i] <= budget_tokens:
            chosen.append(i)
            used += sizes[i]
    return sorted(chosen)


def select_passages(
    passages: Sequence[str],
    query: Query | Sequence[str],
    budget_tokens: int,
    count: Callable[[str], int],
) -> list[int]:
    """Indices of the most relevant passages that fit in `budget_tokens`, in article order.

    Passages are taken best BM25 score first (ties: earlier first) while they fit;
    a passage too big for what is left is skipped. Returns [] only when no passage
    fits at all.
    """
    bm25 = BM25([tokens(p) for p in passages])
    return greedy(bm25.rank(query), [count(p) for p in passages], budget_tokens)


def top_passages(passages: Sequence[str], query: Query | Sequence[str], n: int) -> list[str]:
    """The `n` best passages for `query`, best first (those with no shared word last)."""
    bm25 = BM25([tokens(p) for p in passages])
    return [passages[i] for i in bm25.rank(query)[:n]]


class PassageIndex:
    """An article cut into passages, with their token counts and a BM25 index, built once.

    `select` and `top` answer like `select_passages` and `top_passages` without
    re-tokenizing the article for every question.
    """

    def __init__(self, text: str, max_tokens: int, count: Callable[[str], int]) -> None:
        self.passages = split_passages(text, max_tokens, count)
        self.sizes = [count(p) for p in self.passages]
        self.total_tokens = count(text)
        self._bm25 = BM25([tokens(p) for p in self.passages])

    def select(self, query: Query | Sequence[str], budget_tokens: int) -> list[int]:
        """Indices of the best passages within `budget_tokens`, in article order."""
        return greedy(self._bm25.rank(query), self.sizes, budget_tokens)

    def top(self, query: Query | Sequence[str], n: int) -> list[str]:
        """The `n` best passages for `query`, best first."""
        return [self.passages[i] for i in self._bm25.rank(query)[:n]]


def match_form(text: str) -> str:
    """Text in the form used to compare quotes: normalized, no punctuation, single spaces."""
    norm = normalize_for_match(text).casefold()
    norm = _UNDERSCORE.sub(" ", _NON_WORD.sub(" ", norm))
    return " ".join(norm.split())


def quote_in_article(quote: str, article_text: str) -> bool:
    """True when `quote` occurs in the article, word for word, after normalization.

    Diacritics, letter variants, punctuation and spacing may differ; words may not.
    A quote of fewer than three words proves nothing and is rejected.
    """
    q = match_form(quote)
    if len(q.split()) < MIN_QUOTE_WORDS:
        return False
    return f" {q} " in f" {match_form(article_text)} "
