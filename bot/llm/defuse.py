"""One defuser for every prompt: data (articles, feed text, notes, questions, digests)
can never open or close one of our delimiter tags.

Every prompt builder wraps data in tags (`<article>`, `<notes>`, `<question>`,
`<digest>` ...) and tells the model the content is data, not instructions. Any look-alike
of one of those tags inside the data (`</article>`, `< /article>`, `</ ARTICLE >`,
`<article_language>`) has its `<` replaced by `‹`, so the model never sees the block end
early. Text that merely contains `<` is left alone.
"""

from __future__ import annotations

import re

PROMPT_TAGS: tuple[str, ...] = (
    "article",
    "article_language",
    "answer_language",
    "target_language",
    "notes",
    "history",
    "question",
    "digest",
)
_TAG = re.compile(
    r"<(\s*+(?:/\s*+)?(?:" + "|".join(sorted(PROMPT_TAGS, key=len, reverse=True)) + r"))(?![\w-])",
    re.I,
)


def defuse(text: str, *_tags: str) -> str:
    """`text` with every opening or closing look-alike of a prompt tag made inert
    (`</article>` -> `‹/article>`). Every tag in PROMPT_TAGS is covered whatever names a
    caller passes (kept for the callers that name the block they fill)."""
    return _TAG.sub(lambda m: "‹" + m.group(1), text)
