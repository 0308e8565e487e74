"""A follow-up answer as the model writes it: finished sentences that pass the check.

`LiveAnswer` is the `on_text` callback of a streamed answer call. From the JSON being
written (`bot.llm.stream.partial_object`, the trailing string included) it takes the
`answer` text's finished sentences (all but the one still being written, until the
string is closed), drops inline `[3]` citations (and one still open), and checks each
sentence against the article the way the final answer is checked
(`bot.followups.grounding.judge`: its cited sentences, else the whole article and
re-anchoring). It shows the sentences that pass, as `Stage("writing")`, when that
grew and reads in the asked language; a sentence cut off («… قال إن») ends what is
shown (the final answer replaces it with the article's sentence): like a digest's bullets, nothing unchecked is
ever shown (Telegram would make a link or a `/command`
in it tappable). The checked answer (its evidence, its quote, or "not in the article")
replaces it at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.domain import Lang, Partial, Progress, Stage
from bot.followups.grounding import split_citations
from bot.grounding.guards import language_ok
from bot.grounding.sentence import whole
from bot.ingest.arabic import split_sentences
from bot.llm.stream import may_show_more, partial_object

_OPEN_CITATION = re.compile(r"\[[\d\s,،]*$")
MIN_WORDS = 3  # fewer words than this are not worth an edit

# a sentence of the answer and its inline citations -> whether the check supports it
SentenceCheck = Callable[[str, list[int]], bool]


def finished_sentences(text: str) -> list[tuple[str, list[int]]]:
    """The finished sentences of the answer being written in `text`, each without its
    inline citations, with the ids those cited ([] before any)."""
    obj = partial_object(text, trailing=True) or {}
    raw = obj.get("answer")
    if not isinstance(raw, str) or obj.get("found") is False:
        return []
    done = isinstance((partial_object(text) or {}).get("answer"), str)
    pieces = split_sentences(_OPEN_CITATION.sub("", raw), commas=False)
    if not done:
        pieces = pieces[:-1]  # the last one may still grow
    out: list[tuple[str, list[int]]] = []
    for piece in pieces:
        clean, ids = split_citations(piece, [])
        if any(ch.isalnum() for ch in clean):
            out.append((clean, ids))
    return out


class LiveAnswer:
    """`on_text` for a streamed answer call (see the module doc)."""

    def __init__(self, progress: Progress, lang: Lang, check: SentenceCheck) -> None:
        self.progress = progress
        self.lang = lang
        self.check = check
        self.shown = ""
        self._text = ""
        self._checked: dict[tuple[str, tuple[int, ...]], bool] = {}

    def _supported(self, sentence: str, ids: list[int]) -> bool:
        key = (sentence, tuple(ids))
        if key not in self._checked:
            self._checked[key] = self.check(sentence, ids)
        return self._checked[key]

    async def __call__(self, text: str) -> None:
        if not may_show_more(self._text, text):
            return
        self._text = text
        shown: list[str] = []
        for sentence, ids in finished_sentences(text):
            if not whole(sentence):  # «… قال إن»: the final check will not show it either
                break
            if self._supported(sentence, ids):
                shown.append(sentence)
        words = " ".join(shown)
        if len(words.split()) < MIN_WORDS or len(words) <= len(self.shown):
            return
        if not language_ok(words, self.lang):
            return
        self.shown = words
        await self.progress(Stage("writing", partial=Partial(lang=self.lang, text=words)))
