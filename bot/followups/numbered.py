"""The article as the answer model reads it: numbered sentences, cut into passages.

Sentence ids come from `evidence.number_sentences` over the WHOLE article, so a
sentence keeps its id whichever passages a question selects, and the ids the model
cites can be checked against the article (`grounding.py`). A passage is a paragraph's
numbered lines (`[id] text`, one per line), or a window of whole sentences when the
paragraph is over the passage size; a single sentence over it is cut between words,
every piece keeping the sentence's id. Sizes are measured on the numbered text, the
text that is sent. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.followups.retrieval import BM25, Query, greedy
from bot.grounding.evidence import Sentence, number_sentences, numbered_text
from bot.ingest.arabic import tokens

GAP = "[…]"
JOIN_TOKENS = 2  # what the blank line between two passages adds to the prompt


@dataclass(frozen=True)
class _Passage:
    lines: tuple[str, ...]  # "[id] text" lines
    plain: str  # the sentences without ids, for BM25
    paragraph: int


class NumberedPassages:
    """An article's numbered sentences, cut into passages, with a BM25 index; built once.

    `total_tokens` is the size of the whole numbered article (`evidence.numbered_text`);
    `body(query, budget)` is the numbered text to send: the whole article when it fits,
    else the passages BM25 ranks best, in article order, `[…]` between non-adjacent ones.
    """

    def __init__(self, text: str, max_tokens: int, count: Callable[[str], int]) -> None:
        self.sentences = number_sentences(text)
        self.whole = numbered_text(self.sentences)
        self.total_tokens = count(self.whole)
        self._passages = _cut(self.sentences, max_tokens, count)
        self.texts = ["\n".join(p.lines) for p in self._passages]
        self.sizes = [count(t) + JOIN_TOKENS for t in self.texts]
        self._bm25 = BM25([tokens(p.plain) for p in self._passages])

    def select(self, query: Query | Sequence[str], budget_tokens: int) -> list[int]:
        """Indices of the best passages within `budget_tokens`, in article order."""
        return greedy(self._bm25.rank(query), self.sizes, budget_tokens)

    def body(self, query: Query | Sequence[str], budget_tokens: int) -> str:
        """The numbered article text for the prompt, within `budget_tokens`."""
        if self.total_tokens <= budget_tokens:
            return self.whole
        return self.join(self.select(query, budget_tokens))

    def join(self, chosen: Sequence[int]) -> str:
        """The chosen passages as one text: a passage continuing the previous one's
        paragraph follows on the next line, a new paragraph after a blank line, and a
        `[…]` line stands for every left-out stretch (also at the start and the end)."""
        parts: list[str] = []
        last = -1
        for i in chosen:
            if i != last + 1:
                parts += ["", GAP, ""] if parts else [GAP, ""]
            elif parts and self._passages[i].paragraph != self._passages[last].paragraph:
                parts.append("")
            parts.append(self.texts[i])
            last = i
        if parts and last != len(self._passages) - 1:
            parts += ["", GAP]
        return "\n".join(parts)


def _cut(
    sentences: Sequence[Sentence], max_tokens: int, count: Callable[[str], int]
) -> list[_Passage]:
    """Passages: each paragraph's numbered lines, packed into windows of `max_tokens`."""
    out: list[_Passage] = []
    paragraphs: dict[int, list[Sentence]] = {}
    for s in sentences:
        paragraphs.setdefault(s.paragraph, []).append(s)
    for p_index, group in paragraphs.items():
        lines: list[tuple[str, str]] = []  # (numbered line, plain text)
        for s in group:
            lines += _lines(s, max_tokens, count)
        window: list[tuple[str, str]] = []
        used = 0
        for line, plain in lines:
            n = count(line) + 1
            if window and used + n > max_tokens:
                out.append(_passage(window, p_index))
                window, used = [], 0
            window.append((line, plain))
            used += n
        if window:
            out.append(_passage(window, p_index))
    return out


def _passage(window: list[tuple[str, str]], paragraph: int) -> _Passage:
    return _Passage(tuple(line for line, _ in window), " ".join(p for _, p in window), paragraph)


def _lines(s: Sentence, max_tokens: int, count: Callable[[str], int]) -> list[tuple[str, str]]:
    """The sentence's numbered line; one over `max_tokens` is cut between words, each
    piece keeping the sentence's id."""
    label = f"[{s.id}] "
    if count(label + s.text) <= max_tokens:
        return [(label + s.text, s.text)]
    out: list[tuple[str, str]] = []
    piece: list[str] = []
    used = count(label)
    for word in s.text.split():
        n = count(" " + word)
        if piece and used + n > max_tokens:
            out.append((label + " ".join(piece), " ".join(piece)))
            piece, used = [], count(label)
        piece.append(word)
        used += n
    if piece:
        out.append((label + " ".join(piece), " ".join(piece)))
    return out
