"""Word-level agreement between an extracted text and the expected one (tests, bench).

`bigram_f1` scores ORDER: it compares the multisets of adjacent word pairs, so a text
with every word right but in the wrong order scores low. Words are compared after
`normalize_for_match` (tashkeel, alef forms and digit scripts folded).
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from bot.ingest.arabic import normalize_for_match


def words(text: str) -> list[str]:
    return [w for w in normalize_for_match(text).split() if any(c.isalnum() for c in w)]


def _f1(got: Counter[tuple[str, ...]], want: Counter[tuple[str, ...]]) -> float:
    if not got and not want:
        return 1.0
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision = common / sum(got.values())
    recall = common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def token_f1(text: str, expected: str) -> float:
    """F1 of the word multisets (order ignored)."""
    return _f1(Counter((w,) for w in words(text)), Counter((w,) for w in words(expected)))


def bigram_f1(text: str, expected: str) -> float:
    """F1 of the adjacent word pairs, line breaks ignored (order counts)."""
    a, b = words(text), words(expected)
    return _f1(Counter(pairwise(a)), Counter(pairwise(b)))
