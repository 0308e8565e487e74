"""The shape of one written sentence (pure functions): is it whole, or cut off, or
JSON debris? Shared by digest bullets (bot.summarize.shape) and follow-up answers
(bot.followups): real small models stop mid-sentence («… قال إن») in both.
"""

from __future__ import annotations

import re

from bot.ingest.arabic import tokens

MIN_WORDS = 4

SENTENCE_END = re.compile(r"[.!?؟…]['\"”’»)\]]*$")
_DEBRIS = re.compile(r"[{}\[\]]|\"\s*:|\\[n\"t]")
# a bullet that stops on one of these words (normalized) was cut off
_DANGLING = frozenset(
    tokens(
        "و في من على إلى عن أن إن الذي التي الذين مع بين عند حتى لكن أو ثم بعد قبل خلال "
        "and or but of to in on for with from by at the a an that which who as than into "
        # a verb waiting for its object or complement: a small model's English string
        # ended where the Arabic opened a quote ("... the United States is")
        "is are was were be been will would has have had remains remain still"
    )
)
# ...and these even before a final stop: «قال إن.» still says nothing
_ALWAYS_DANGLING = frozenset(tokens("إن أن الذي التي الذين لأن كي because"))
_OPEN_CLOSE = (("(", ")"), ("«", "»"), ("“", "”"), ("[", "]"))


def has_debris(text: str) -> bool:
    """JSON left in a field: braces, brackets, `"key":`, escaped quotes or newlines."""
    return bool(_DEBRIS.search(text))


def _balanced(text: str) -> bool:
    return all(text.count(o) <= text.count(c) for o, c in _OPEN_CLOSE) and text.count('"') % 2 == 0


def is_cut(text: str) -> bool:
    """True when `text` stops mid-sentence: it ends on a joining word, a comma or a
    colon, or leaves a bracket or quote open."""
    words = tokens(text)
    if not words:
        return True
    if text.rstrip()[-1:] in ",،:;؛-–(«“":
        return True
    if not SENTENCE_END.search(text) and words[-1] in _DANGLING:
        return True
    if words[-1] in _ALWAYS_DANGLING:
        return True
    return not _balanced(text)


def complete_sentence(text: str) -> bool:
    """At least MIN_WORDS words, not cut off (a missing final stop is repairable)."""
    return len(text.split()) >= MIN_WORDS and not is_cut(text)


def whole(text: str) -> bool:
    """Text that may be shown as an answer: it does not stop mid-sentence («… قال إن»)
    and holds no JSON debris (short answers such as «في عام 2020.» are whole)."""
    return not is_cut(text) and not has_debris(text)
