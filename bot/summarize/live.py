"""The digest as the model writes it: complete pieces, already past the cheap checks.

`LiveDraft` is the `on_text` callback of a streamed digest call. From the JSON object
being written (`bot.llm.stream.partial_object`: complete strings only) it makes a
`Partial` of the headline (its whole words while it is being written, or the article's
title when the writer will keep that) and the bullets that are finished (a bullet is
finished once the next one or the questions began), keeps only bullets the writer's evidence check
accepts and a headline it would keep, and reports it as `Stage("writing")` whenever
it grew. Nothing is reported while the text is not in the asked language. The final,
fully checked digest replaces whatever was shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.domain import Lang, Partial, Progress, Stage
from bot.grounding.guards import language_ok
from bot.llm.stream import may_show_more, partial_object

log = logging.getLogger(__name__)

BulletCheck = Callable[[Any], str | None]  # a raw bullet -> its shown text, or None
HeadlineCheck = Callable[[str], str | None]  # the model's headline -> the shown one


def finished_bullets(obj: dict[str, Any]) -> list[Any]:
    """The raw bullets of a partial digest that are finished (see the module doc)."""
    raw = obj.get("bullets")
    if not isinstance(raw, list):
        return []
    return raw if "questions" in obj else raw[:-1]


def growing_headline(text: str) -> str:
    """The whole words of a headline still being written ('' before the first one)."""
    obj = partial_object(text, trailing=True) or {}
    raw = obj.get("headline")
    if not isinstance(raw, str) or not raw or raw[-1].isspace():
        return " ".join(str(raw or "").split())
    return " ".join(raw.split()[:-1])  # the last word may still grow


class LiveDraft:
    """`on_text` for a streamed digest call (see the module doc)."""

    def __init__(
        self, progress: Progress, lang: Lang, bullet: BulletCheck, headline: HeadlineCheck
    ) -> None:
        self.progress = progress
        self.lang = lang
        self.bullet = bullet
        self.headline = headline
        self.shown: Partial | None = None
        self._checked: dict[str, str | None] = {}
        self._text = ""

    def _bullet(self, raw: Any) -> str | None:
        key = repr(raw)
        if key not in self._checked:
            self._checked[key] = self.bullet(raw)
        return self._checked[key]

    def partial(self, text: str) -> Partial | None:
        """The `Partial` to show for the content so far (None: nothing to show yet)."""
        obj = partial_object(text) or {}
        raw = obj.get("headline")
        if isinstance(raw, str):
            headline = self.headline(" ".join(raw.split()))
        else:  # still being written: its whole words (or the article's title, if kept)
            headline = self.headline(growing_headline(text))
        if not headline:
            return None
        bullets = tuple(b for b in map(self._bullet, finished_bullets(obj)) if b)
        if not language_ok(" ".join((headline, *bullets)), self.lang):
            return None
        return Partial(lang=self.lang, headline=headline, bullets=bullets)

    async def __call__(self, text: str) -> None:
        if not may_show_more(self._text, text):
            return
        self._text = text
        part = self.partial(text)
        if part is None or part == self.shown:
            return
        if self.shown is not None and len(part.bullets) < len(self.shown.bullets):
            return  # a retry started over: keep what is shown until it catches up
        self.shown = part
        await self.progress(Stage("writing", partial=part))
