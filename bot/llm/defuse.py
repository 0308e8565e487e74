"""One defuser for every prompt: data (articles, feed text, notes, questions, digests)
can never open or close one of our delimiter tags.

Every prompt builder wraps data in tags (`<article>`, `<notes>`, `<question>`,
`<digest>` ...) and tells the model the content is data, not instructions. `defuse`
first cleans the data of invisible characters (zero-width spaces and joiners, soft
hyphens, bidi controls, BOM, Hangul fillers, variation selectors, tag characters: what
a reader cannot see but could split a tag, `<\u200b/question>`, `</arti\u00adcle>`),
then looks for tags in a folded copy (NFKC, so fullwidth `＜/article＞` and small `﹤`
count; case and combining marks ignored) and replaces the `<` (or its look-alike) of
every opening or closing look-alike of one of those tags (`</article>`, `< /article>`,
`</ ARTICLE >`, `<article_language>`) by `‹`, so the model never sees the block end
early. Text that merely contains `<` is left alone.
"""

from __future__ import annotations

import re
import unicodedata

PROMPT_TAGS: tuple[str, ...] = (
    "article",
    "article_language",
    "answer_language",
    "target_language",
    "notes",
    "passages",
    "history",
    "question",
    "digest",
    "earlier",
)
_TAG = re.compile(
    # possessive (`*+`): a long run of spaces after "<" is read once, never re-split
    r"<(\s*+(?:/\s*+)?(?:" + "|".join(sorted(PROMPT_TAGS, key=len, reverse=True)) + r"))(?![\w-])",
    re.I,
)
# Invisible characters: every format character (Cf: zero-width space and joiners, soft
# hyphen, bidi controls, BOM, tag characters ...), the default-ignorable ones that are
# not Cf (Hangul fillers, Khmer inherent vowels, Mongolian and other variation
# selectors, combining grapheme joiner), and lone surrogates
_IGNORABLE = "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\uffa0\ufe00-\ufe0f"
_SUPPLEMENTARY = "\U0001d173-\U0001d17a\U000e0000-\U000e0fff\U000110bd\U000110cd"


def _format_chars() -> str:
    spans: list[tuple[int, int]] = []
    for code in range(0x80, 0x10000):
        if unicodedata.category(chr(code)) == "Cf":
            if spans and spans[-1][1] == code - 1:
                spans[-1] = (spans[-1][0], code)
            else:
                spans.append((code, code))
    return "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in spans)


_INVISIBLE = re.compile(f"[{_format_chars()}{_IGNORABLE}{_SUPPLEMENTARY}\ud800-\udfff]")


def _folded_tag() -> re.Pattern[str]:
    """`_TAG` for folded text (`_FoldTable`): a dropped mark (\\x00) may sit anywhere."""
    gap = "[\\s\\x00]*+"
    names = sorted(PROMPT_TAGS, key=len, reverse=True)
    spelled = "|".join("\\x00*".join(re.escape(ch) for ch in name) for name in names)
    return re.compile(f"<{gap}(?:/{gap})?(?:{spelled})(?!\\x00*+[\\w-])")


_FOLDED_TAG = _folded_tag()


class _FoldTable(dict[int, str]):
    """`str.translate` table: each character to what it counts as when looking for a
    tag, one character for one (so positions match): NFKC with combining marks dropped
    and lower case; "\\x00" when that leaves nothing, "\\x01" when it makes several."""

    def __missing__(self, code: int) -> str:
        if len(self) > 100_000:
            self.clear()
        folded = _fold(chr(code)).lower()
        value = folded if len(folded) == 1 else ("\x00" if not folded else "\x01")
        self[code] = value
        return value


_FOLDS = _FoldTable()


def clean(text: str) -> str:
    """`text` without the invisible characters listed above. Letters and marks a reader
    sees stay."""
    return text if text.isascii() else _INVISIBLE.sub("", text)


def _fold(ch: str) -> str:
    """What `ch` counts as when looking for a tag: NFKC, combining marks dropped."""
    if ch.isascii():
        return ch
    decomposed = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", base)


def defuse(text: str, *_tags: str) -> str:
    """`text` cleaned (`clean`), with every opening or closing look-alike of a prompt tag
    made inert (`</article>` -> `‹/article>`, `＜/article＞` -> `‹/article＞`). Every
    tag in PROMPT_TAGS is covered whatever names a caller passes (kept for the callers
    that name the block they fill)."""
    text = _TAG.sub(lambda m: "‹" + m.group(1), clean(text))
    if text.isascii():
        return text
    # look-alikes: a fullwidth or small "<", or letters and marks that fold to a tag
    starts = [m.start() for m in _FOLDED_TAG.finditer(text.translate(_FOLDS))]
    if not starts:
        return text
    out = list(text)
    for i in starts:
        out[i] = "‹"
    return "".join(out)
