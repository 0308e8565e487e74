"""Cutting text to a token budget: the one greedy packer, and the splitter of long
texts into parts for the map step of summarizing (follow-ups cut passages with it too,
bot/followups/retrieval.py).

Pure functions; token counts come from a `count` function (bot.llm.tokens.count_tokens
by default).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from bot.llm.tokens import count_tokens

# a sentence end that keeps every character (split_sentences drops punctuation-only
# fragments, and every word of an article must reach the model)
_SENTENCE_END = re.compile(r"(?<=[.!?\u061f\u061b])\s+")


def pack(pieces: Iterable[str], budget: int, cost: Callable[[str], int], sep: str) -> list[str]:
    """Join consecutive `pieces` with `sep` into as few parts as the budget allows.

    Greedy and in order: a part takes pieces while the sum of their `cost` stays within
    `budget`; a piece that alone costs more than the budget becomes a part of its own.
    Returns the parts (none for no pieces).
    """
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for piece in pieces:
        n = cost(piece)
        if current and used + n > budget:
            parts.append(sep.join(current))
            current, used = [], 0
        current.append(piece)
        used += n
    if current:
        parts.append(sep.join(current))
    return parts


def split_to_budget(
    text: str, budget: int, count: Callable[[str], int] = count_tokens
) -> list[str]:
    """Split `text` into parts of at most `budget` tokens, at paragraph boundaries;
    a paragraph over the budget is split at sentence boundaries, a sentence over it
    at word boundaries. Parts join their pieces with blank lines."""
    units: list[str] = []
    for para in (p.strip() for p in text.split("\n\n")):
        if not para:
            continue
        if count(para) <= budget:
            units.append(para)
            continue
        for sentence in _SENTENCE_END.split(para):
            if count(sentence) <= budget:
                units.append(sentence)
            else:
                units += _cut_words(sentence, budget, count)
    return pack(units, budget, lambda unit: count(unit) + 1, "\n\n")


def _cut_words(sentence: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """`sentence` cut between words into pieces of at most `budget` tokens each."""
    out: list[str] = []
    piece = ""
    for word in sentence.split():
        trial = f"{piece} {word}".strip()
        if piece and count(trial) > budget:
            out.append(piece)
            piece = word
        else:
            piece = trial
    if piece:
        out.append(piece)
    return out


def request_estimate(
    text_tokens: int, *, max_input: int, overhead: int, output: int, max_parts: int, map_output: int
) -> int:
    """Upper-leaning token cost of summarizing a text of `text_tokens`, before any call.

    One call (prompt + `output`) when the text fits `max_input` with the `overhead`,
    counted twice for the corrective retry the writer may make; else one map call per
    part (at most `max_parts`, each at most `max_input` + `map_output`) and the reduce
    call with its retry. Retries beyond those (invalid JSON twice, a translation) are
    what an estimate can miss.
    """
    if text_tokens + overhead <= max_input:
        return 2 * (text_tokens + overhead + output)
    part = max(max_input - overhead, 100)
    parts = min(max_parts, math.ceil(text_tokens / part))
    return parts * (max_input + map_output) + 2 * (max_input + output)
