"""A follow-up answer as the model writes it: its whole words, citations left out.

`LiveAnswer` is the `on_text` callback of a streamed answer call: from the JSON being
written (`bot.llm.stream.partial_object`, the trailing string included) it takes the
`answer` text up to its last whole word, drops inline `[3]` citations (and one still
open), and reports it as `Stage("writing")` when it grew and reads in the asked
language. The checked answer (its evidence, its quote, or "not in the article")
replaces it at the end.
"""

from __future__ import annotations

import re

from bot.domain import Lang, Partial, Progress, Stage
from bot.followups.grounding import split_citations
from bot.grounding.guards import language_ok
from bot.llm.stream import may_show_more, partial_object

_OPEN_CITATION = re.compile(r"\[[\d\s,،]*$")
MIN_WORDS = 3  # fewer words than this are not worth an edit


def answer_so_far(text: str) -> str:
    """The whole words of the answer being written in `text` ('' before any)."""
    obj = partial_object(text, trailing=True) or {}
    raw = obj.get("answer")
    if not isinstance(raw, str) or obj.get("found") is False:
        return ""
    done = partial_object(text) or {}
    if not isinstance(done.get("answer"), str):  # still being written: whole words only
        raw = raw.rsplit(None, 1)[0] if raw and not raw[-1].isspace() and " " in raw else ""
    raw = _OPEN_CITATION.sub("", raw)
    clean, _ = split_citations(raw, [])
    return clean


class LiveAnswer:
    """`on_text` for a streamed answer call (see the module doc)."""

    def __init__(self, progress: Progress, lang: Lang) -> None:
        self.progress = progress
        self.lang = lang
        self.shown = ""
        self._text = ""

    async def __call__(self, text: str) -> None:
        if not may_show_more(self._text, text):
            return
        self._text = text
        words = answer_so_far(text)
        if len(words.split()) < MIN_WORDS or len(words) <= len(self.shown):
            return
        if not language_ok(words, self.lang):
            return
        self.shown = words
        await self.progress(Stage("writing", partial=Partial(lang=self.lang, text=words)))
