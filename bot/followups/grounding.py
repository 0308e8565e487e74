"""Checking a follow-up answer against the article sentences it cites (pure functions).

The model answers `{"answer", "sources", "found"}`, `sources` being ids of the numbered
sentences it read (`numbered.py`). The answer is judged the way digest bullets are
(`bot.grounding.evidence`): against its cited sentences, numbers always, and in the
article's own language its content words and polarity ("ended" where the sentence
says "began"); in another language, numbers and the names kept in the article's
script. A wrong citation whose support is elsewhere in the article is re-anchored
(`evidence.anchor`); a flipped fact is not rescued by other sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.grounding import evidence
from bot.grounding.evidence import Sentence

# (?<!\s): a match starts at the first space of a run, not again at each later one
_INLINE = re.compile(r"(?<!\s)\s*\[(\d+(?:\s*[,،]\s*\d+)*)\]")


@dataclass(frozen=True)
class Verdict:
    """An answer's check: supported or not, the sentence ids it rests on (re-anchored
    when `recited`), and why not (for the corrective retry)."""

    ok: bool
    ids: list[int] = field(default_factory=list)
    reason: str = ""
    recited: bool = False


def split_citations(text: str, sources: Sequence[int]) -> tuple[str, list[int]]:
    """The answer without inline `[3]` / `[3, 4]` marks, and its ids: `sources`, or the
    inline ones when `sources` is empty (small models often cite in the text)."""
    inline = [int(i) for m in _INLINE.finditer(text) for i in re.split(r"\s*[,،]\s*", m[1])]
    clean = " ".join(_INLINE.sub("", text).split())
    clean = re.sub(r"\s+([.,،؛:!?؟])", r"\1", clean)
    return clean, list(sources) or inline


def judge(
    text: str, sources: Sequence[int], sentences: Sequence[Sentence], *, same_language: bool
) -> Verdict:
    """Check `text` against the sentences `sources` names (see the module docstring)."""
    ids = evidence.valid_ids(sources, sentences)
    if ids:
        cited = evidence.cited_parts(ids, sentences)
        check = evidence.check_claim(text, cited, same_language=same_language)
        if check.ok:
            return Verdict(True, ids)
        if "opposite" in check.reason:
            return Verdict(False, ids, check.reason)
        reason = check.reason
    else:
        whole = [s.text for s in sentences]
        check = evidence.check_claim(text, whole, same_language=same_language)
        reason = check.reason.replace("the cited sentences", "the article")
        reason = reason or "it cites no sentence of the article"
    found = evidence.anchor(text, sentences, same_language=same_language)
    if found:
        return Verdict(True, found, recited=True)
    return Verdict(False, ids, reason)


def problem(text: str, verdict: Verdict) -> str:
    """One line for the corrective retry: what the answer cited and what was wrong."""
    cited = ", ".join(str(i) for i in verdict.ids) if verdict.ids else "no valid sentence"
    short = text if len(text) <= 300 else text[:300].rsplit(" ", 1)[0] + " …"
    return f"- your answer «{short}» cites {cited}: {verdict.reason}."
