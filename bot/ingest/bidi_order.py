"""Visual order back to logical order for one line of PDF text.

A PDF draws glyphs where they appear; reading the characters left to right by their x
position gives VISUAL order. Right-to-left words then come out reversed ("ةيبرعلا"), and
a line that mixes Arabic and Latin has its runs in display order. This module undoes
the display step of the Unicode bidi algorithm for the simple, common cases:

* an RTL line (base direction right to left) is reversed as a whole, then every
  left-to-right run inside it (Latin words, numbers) is reversed back, so digits keep
  their own order ("2020", "١٤٣٤");
* an LTR line keeps its order, and every right-to-left run (Arabic letters with the
  numbers and spaces between them) is reversed, numbers inside it reversed back.

A unit is one glyph's text: usually one character, but a ligature glyph may map to
several characters in logical order ("لا", a whole word in some fonts). Units are never
reversed inside, only moved. Brackets in right-to-left context are mirrored back.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal

Cls = Literal["R", "L", "N", "W"]

_JOIN_ANY = frozenset("/.,:٫٬")  # separators that keep "1/12/2020" or "3.5" one number
_JOIN_EN = frozenset("-+%")  # ... and for European digits also "2020-12-01", "50%"
_MIRROR = {"(": ")", ")": "(", "[": "]", "]": "[", "{": "}", "}": "{", "«": "»", "»": "«"}


def unit_class(text: str) -> Cls:
    """R (Arabic/Hebrew letter), L (other letter), N (digit) or W (neutral) for a unit:
    the class of its first strong or numeric character."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "R"
        if kind == "L":
            return "L"
        if kind in ("EN", "AN"):
            return "N"
    return "W"


def _european(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) == "EN" for ch in text)


def base_is_rtl(units: Sequence[str], *, hint_rtl: bool) -> bool:
    """The line's base direction: RTL when it has only right-to-left letters; else
    `hint_rtl` (the line's alignment, or the page's majority) decides, since a line of
    Latin letters may end a right-to-left paragraph ("(IMF).")."""
    classes = {unit_class(u) for u in units}
    if "R" in classes and "L" not in classes:
        return True
    return hint_rtl


def _joinable_numbers(units: Sequence[str], i: int, j: int, en: Sequence[bool]) -> bool:
    """True when the neutral units between number units i and j (exclusive) hold one
    separator that keeps them a single number ("-" only between European numbers that
    do not follow an Arabic letter: after one, "2020-2023" shows as two numbers)."""
    between = "".join(units[i + 1 : j])
    if len(between) != 1:
        return False
    if between in _JOIN_ANY:
        return True
    return between in _JOIN_EN and en[i] and en[j]


def european_flags(units: Sequence[str], classes: Sequence[Cls]) -> list[bool]:
    """For units in logical order: True for European digits that stay European numbers,
    i.e. do not follow an Arabic letter (rule W2 of the bidi algorithm makes those
    Arabic numbers)."""
    flags = [False] * len(units)
    strong: Cls = "W"
    for k, u in enumerate(units):
        if classes[k] in ("R", "L"):
            strong = classes[k]
        elif classes[k] == "N":
            flags[k] = strong != "R" and _european(u)
    return flags


def _runs(units: Sequence[str], classes: Sequence[Cls], members: str, anchor: str) -> list[range]:
    """Maximal spans whose first and last units have a class in `members`, with only
    `members` or neutrals inside, holding at least one unit of a class in `anchor`.
    Two number units separated only by neutrals join when `_joinable_numbers` says so."""
    spans: list[range] = []
    start: int | None = None
    last: int | None = None
    en = european_flags(units, [unit_class(u) for u in units])
    for k, cls in enumerate(classes):
        if cls == "W":
            continue
        if cls not in members:
            if start is not None and last is not None:
                spans.append(range(start, last + 1))
            start = last = None
            continue
        if start is None or last is None:
            start = last = k
            continue
        gap = k > last + 1
        pair = (classes[last], cls)
        if gap and (
            (pair == ("N", "N") and not _joinable_numbers(units, last, k, en))
            or (pair in (("L", "N"), ("N", "L")) and not _any_european(units, last, k))
        ):
            spans.append(range(start, last + 1))
            start = k
        last = k
    if start is not None and last is not None:
        spans.append(range(start, last + 1))
    return [s for s in spans if any(classes[k] in anchor for k in s)]


def _any_european(units: Sequence[str], i: int, j: int) -> bool:
    """Of a Latin word and a number apart (i, j), is the number European? Arabic-Indic
    digits never join a Latin word across a space (they count as right-to-left)."""
    number = units[i] if unit_class(units[i]) == "N" else units[j]
    return _european(number)


def _reverse_spans(units: list[str], spans: list[range]) -> None:
    for span in spans:
        units[span.start : span.stop] = units[span.start : span.stop][::-1]


def _number_runs(units: Sequence[str], classes: Sequence[Cls]) -> list[range]:
    return _runs(units, classes, "N", "N")


def _resolve_numbers(units: Sequence[str], classes: list[Cls]) -> list[Cls]:
    """In an LTR line, European digits that follow a Latin letter (or start the line)
    belong to the Latin text, as the bidi algorithm's rule W7 says."""
    out = list(classes)
    previous: Cls = "L"
    for k, cls in enumerate(classes):
        if cls in ("L", "R"):
            previous = cls
        elif cls == "N" and previous == "L" and _european(units[k]):
            out[k] = "L"
    return out


def classes_of(units: Sequence[str]) -> list[Cls]:
    """Each unit's class, `units` being in logical order. A sign written against a
    European number ("%", "$", "°") is part of it (rule W5 of the bidi algorithm),
    except after an Arabic letter, where the number is an Arabic number (rule W2) and
    the sign a neutral."""
    classes = [unit_class(u) for u in units]
    european = european_flags(units, classes)
    for k, u in enumerate(units):
        sign = classes[k] == "W" and u and all(unicodedata.bidirectional(c) == "ET" for c in u)
        if sign and any(european[j] for j in (k - 1, k + 1) if 0 <= j < len(units)):
            classes[k] = "N"
    return classes


def to_logical(units: Sequence[str], *, rtl: bool) -> list[str]:
    """Reorder one line's units from visual (left to right) to logical order.

    Brackets in right-to-left context are drawn mirrored ("(" shown as ")"). Some
    writers map such a glyph back to the character typed, others to the one drawn (the
    bidi algorithm's own output, python-bidi, does the latter); the line takes whichever
    reading leaves its brackets balanced."""
    out = list(units)
    if rtl:
        out.reverse()
        classes = classes_of(out)
        spans = _runs(out, classes, "LN", "LN")
        _reverse_spans(out, spans)
        inside = {k for span in spans for k in span}
        return _balanced_of(out, [k for k in range(len(out)) if k not in inside])
    classes = _resolve_numbers(out, classes_of(out))
    mirrored: list[int] = []
    for span in _runs(out, classes, "RN", "R"):
        piece = out[span.start : span.stop][::-1]
        piece_classes = classes_of(piece)
        _reverse_spans(piece, _number_runs(piece, piece_classes))
        out[span.start : span.stop] = piece
        mirrored.extend(span)
    return _balanced_of(out, mirrored)


_PAIRS = {")": "(", "]": "[", "}": "{", "»": "«"}


def _balanced(units: Sequence[str]) -> bool:
    """No closing bracket comes before its opening one."""
    depth = dict.fromkeys(_PAIRS.values(), 0)
    for u in units:
        if u in depth:
            depth[u] += 1
        elif u in _PAIRS:
            depth[_PAIRS[u]] -= 1
            if depth[_PAIRS[u]] < 0:
                return False
    return True


def _balanced_of(units: list[str], rtl_context: list[int]) -> list[str]:
    """`units` as they are, or with the brackets at `rtl_context` mirrored back, which
    ever has balanced brackets (as they are when both or neither do)."""
    if _balanced(units):
        return units
    flipped = list(units)
    for k in rtl_context:
        flipped[k] = _MIRROR.get(units[k], units[k])
    return flipped if _balanced(flipped) else units
