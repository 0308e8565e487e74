"""From positioned glyphs to lines of text in reading order (one page at a time).

Steps: glyphs -> lines (by vertical position) -> bands of lines split into columns where
a gutter runs down many lines -> each line's glyphs sorted left to right, spaces put
where the gaps are, diacritics kept with their letter, duplicated glyph text dropped ->
bidi_order turns the visual line into logical order -> NFKC folds presentation forms
and ligatures (U+FB50-U+FEFF) to plain letters.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass, field
from itertools import pairwise

from bot.ingest.bidi_order import base_is_rtl, to_logical, unit_class

MIN_COLUMN_LINES = 3  # a gutter must run down this many lines on both sides to be one
MIN_COLUMN_CHARS = 20  # ... and the lines on each side hold this many characters on average
SPACE_GAP = 0.18  # a gap wider than this many font sizes is a word space
COLUMN_GAP = 1.2  # ... and wider than this many is a possible column gutter


@dataclass(frozen=True)
class Glyph:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    seq: int = 0  # position in the page's content stream


@dataclass
class Line:
    glyphs: list[Glyph] = field(default_factory=list)

    @property
    def top(self) -> float:
        return min(g.top for g in self.glyphs)

    @property
    def bottom(self) -> float:
        return max(g.bottom for g in self.glyphs)

    @property
    def x0(self) -> float:
        return min(g.x0 for g in self.glyphs)

    @property
    def x1(self) -> float:
        return max(g.x1 for g in self.glyphs)

    @property
    def size(self) -> float:
        return max(g.size for g in self.glyphs) or 10.0


def group_lines(glyphs: list[Glyph]) -> list[Line]:
    """Glyphs whose vertical middles lie within half a line height of each other share a
    line; lines come out top to bottom."""
    lines: list[Line] = []
    top = bottom = 0.0  # the last line's extent, kept as it grows (not recomputed: a
    # line of 20,000 glyphs took 49 s when each glyph scanned the whole line)
    for g in sorted(glyphs, key=lambda g: (g.top + g.bottom) / 2):
        mid = (g.top + g.bottom) / 2
        near = abs(mid - (top + bottom) / 2) <= max(g.bottom - g.top, bottom - top) * 0.5
        if lines and near:
            lines[-1].glyphs.append(g)
            top, bottom = min(top, g.top), max(bottom, g.bottom)
            continue
        lines.append(Line([g]))
        top, bottom = g.top, g.bottom
    return lines


def _gaps(line: Line) -> list[tuple[float, float]]:
    """Horizontal gaps wider than COLUMN_GAP font sizes inside a line."""
    out: list[tuple[float, float]] = []
    glyphs = sorted(line.glyphs, key=lambda g: g.x0)
    right, wide = glyphs[0].x1, COLUMN_GAP * line.size
    for g in glyphs[1:]:
        if g.x0 - right > wide and g.text.strip():
            out.append((right, g.x0))
        if g.text.strip():
            right = max(right, g.x1)
    return out


def _side_ok(lines: list[Line]) -> bool:
    """A column: enough lines, and prose-long ones (a table's cells are short)."""
    chars = sum(len(g.text) for line in lines for g in line.glyphs)
    return len(lines) >= MIN_COLUMN_LINES and chars / len(lines) >= MIN_COLUMN_CHARS


def _in_gap(line: Line, x: float) -> bool:
    """True when `x` lies in one of the line's wide gaps, or all its text is on one side."""
    texts = [g for g in line.glyphs if g.text.strip()]
    if all(g.x1 <= x for g in texts) or all(g.x0 >= x for g in texts):
        return True
    return any(a <= x <= b for a, b in _gaps(line))


def find_gutter(lines: list[Line]) -> float | None:
    """An x position that splits enough prose lines on each side (MIN_COLUMN_LINES,
    MIN_COLUMN_CHARS a line on average) without crossing the lines between; a table of
    short cells is read row by row instead."""
    candidates = sorted({round((a + b) / 2) for line in lines for a, b in _gaps(line)})
    for x in candidates:
        band = [line for line in lines if _in_gap(line, x)]
        left = [Line([g for g in b.glyphs if g.x1 <= x]) for b in band]
        right = [Line([g for g in b.glyphs if g.x0 >= x]) for b in band]
        left = [b for b in left if b.glyphs]
        right = [b for b in right if b.glyphs]
        if left and right and _side_ok(left) and _side_ok(right):
            return x
    return None


Block = list[Line]


def split_columns(lines: list[Line], *, rtl_page: bool) -> list[Block]:
    """Blocks of lines in reading order: bands of lines that a gutter splits are read
    one column after the other (the right one first on an Arabic page), each column a
    block; lines that cross the gutter (titles, headers, footers) are blocks of one."""
    x = find_gutter(lines)
    if x is None:
        return [lines]
    out: list[Block] = []
    band: list[Line] = []
    for line in [*lines, None]:
        if line is not None and _in_gap(line, x):
            band.append(line)
            continue
        left = [Line([g for g in b.glyphs if g.x1 <= x]) for b in band]
        right = [Line([g for g in b.glyphs if g.x0 >= x]) for b in band]
        first, second = (right, left) if rtl_page else (left, right)
        out.extend(
            block
            for block in ([b for b in first if b.glyphs], [b for b in second if b.glyphs])
            if block
        )
        band = []
        if line is not None:
            out.append([line])
    return out


def _is_mark(text: str) -> bool:
    return bool(text) and all(unicodedata.combining(c) for c in text)


def _mark_base(stream: list[Glyph], k: int) -> int | None:
    """The index in `stream` of the letter that the mark at `k` sits on. Writers emit
    a mark next to its letter: before it when they write right-to-left text in visual
    order, after it when in logical order; either way the letter is the neighbour on
    the right. Marks on left-to-right letters attach to the previous letter."""
    before = next((i for i in range(k - 1, -1, -1) if _is_base(stream[i])), None)
    after = next((i for i in range(k + 1, len(stream)) if _is_base(stream[i])), None)
    if before is None or after is None:
        return before if after is None else after
    if unit_class(stream[before].text) != "R" and unit_class(stream[after].text) != "R":
        return before
    return after if stream[after].x0 > stream[before].x0 else before


def _is_base(g: Glyph) -> bool:
    return not _is_mark(g.text) and not g.text.isspace()


def _with_marks(glyphs: list[Glyph]) -> list[Glyph]:
    """Glyphs left to right, each combining mark (tashkeel) joined to its letter."""
    stream = sorted(glyphs, key=lambda g: g.seq)
    texts = [g.text for g in stream]
    for k, g in enumerate(stream):
        if _is_mark(g.text):
            base = _mark_base(stream, k)
            if base is not None:
                texts[base] += g.text
    out = [
        Glyph(t, g.x0, g.x1, g.top, g.bottom, g.size, g.seq)
        for t, g in zip(texts, stream, strict=True)
        if not _is_mark(g.text)
    ]
    return sorted(out, key=lambda g: g.x0)


def units_of(line: Line) -> list[str]:
    """The line's glyph texts left to right, with spaces where the gaps are. Combining
    marks stay with their letter; a glyph that repeats text already on the line as a
    whole word (a cluster-mapping fault of some PDF writers) is dropped."""
    units: list[str] = []
    seen = ""
    right: float | None = None
    glyphs = [g for g in line.glyphs if g.text and "(cid:" not in g.text]
    for g in _with_marks(glyphs):
        text = g.text
        if len(text) > 2 and text.strip() and text.strip() in seen:
            continue
        gap = right is not None and g.x0 - right > SPACE_GAP * g.size
        if gap and units and units[-1] != " " and not text.isspace():
            units.append(" ")
        if text.isspace():
            if units and units[-1] != " ":
                units.append(" ")
        else:
            units.append(text)
        seen += text
        right = g.x1 if right is None else max(right, g.x1)
    return units


def line_text(line: Line, *, hint_rtl: bool) -> str:
    """One line in logical order, presentation forms folded by NFKC."""
    units = units_of(line)
    rtl = base_is_rtl(units, hint_rtl=hint_rtl)
    text = "".join(to_logical(units, rtl=rtl))
    return " ".join(unicodedata.normalize("NFKC", text).split())


def rtl_share(glyphs: list[Glyph]) -> float:
    """The share of right-to-left letters among the letters of `glyphs`."""
    r = sum(unit_class(g.text) == "R" for g in glyphs)
    ltr = sum(unit_class(g.text) == "L" for g in glyphs)
    return r / (r + ltr) if r + ltr else 0.0


def align_hint(line: Line, left: float, right: float, rtl_page: bool) -> bool:
    """For a mixed-direction line: RTL when it hugs the right edge of the text block
    more than the left one; the page's majority direction when both or neither."""
    to_left = line.x0 - left
    to_right = right - line.x1
    tolerance = line.size
    if abs(to_left - to_right) <= tolerance:
        return rtl_page
    return to_right < to_left


def page_rtl(lines: list[Line]) -> bool:
    """True when most letters on the page are right-to-left ones."""
    return rtl_share([g for line in lines for g in line.glyphs]) > 0.5


SENTENCE_END = (".", "!", "?", "؟", ":", "۔")


def paragraph_starts(block: Block) -> set[int]:
    """Indices of the lines of `block` that start a paragraph: after a vertical gap
    clearly wider than the block's usual one, or after a short line that ends a
    sentence."""
    if len(block) < 2:
        return set()
    gaps = [b.top - a.bottom for a, b in pairwise(block)]
    usual = sorted(gaps)[len(gaps) // 2]
    width = max(x.x1 for x in block) - min(x.x0 for x in block)
    starts: set[int] = set()
    for i, gap in enumerate(gaps, 1):
        prev = block[i - 1]
        ends = "".join(g.text for g in prev.glyphs).strip()
        short = prev.x1 - prev.x0 < 0.8 * width
        if gap > usual + 0.5 * prev.size or (short and ends.endswith(SENTENCE_END)):
            starts.add(i)
    return starts


SOFT_BREAK = "\n"  # a new column or page: a new paragraph only after a sentence's end


def _direction_hints(
    block: Block, starts: set[int], bounds: tuple[float, float], rtl_page: bool
) -> list[bool]:
    """Each line's direction hint. A paragraph has one base direction: in a paragraph
    of several lines, that of most of its letters (so a last line that a writer
    left-aligned, or one ending in a Latin word, keeps the paragraph's direction); a
    line alone, or a table row, goes by its alignment."""
    edges = sorted({0, *starts, len(block)})
    hints: list[bool] = []
    for a, b in itertools.pairwise(edges):
        para = block[a:b]
        share = rtl_share([g for line in para for g in line.glyphs])
        for line in para:
            if len(para) > 1 and not _gaps(line):
                hints.append(share > 0.5)
            else:  # a line alone, or a table row (cells apart): its alignment
                hints.append(align_hint(line, bounds[0], bounds[1], rtl_page))
    return hints


def page_lines(lines: list[Line]) -> list[str]:
    """The text of a page's lines (from `group_lines`) in reading order, with an empty
    string before each paragraph and SOFT_BREAK before each column or page."""
    if not lines:
        return []
    rtl_page = page_rtl(lines)
    page_left = min(line.x0 for line in lines)
    page_right = max(line.x1 for line in lines)
    out = [SOFT_BREAK]
    single = False
    for block in split_columns(lines, rtl_page=rtl_page):
        if single or len(block) == 1:
            out.append("")  # a title or a full-width line stands alone
        elif out[-1] != SOFT_BREAK:
            out.append(SOFT_BREAK)
        single = len(block) == 1
        if len(block) > 1:
            left, right = min(b.x0 for b in block), max(b.x1 for b in block)
        else:
            left, right = page_left, page_right
        starts = paragraph_starts(block)
        hints = _direction_hints(block, starts, (left, right), rtl_page)
        for i, line in enumerate(block):
            text = line_text(line, hint_rtl=hints[i])
            if i in starts:
                out.append("")
            if text:
                out.append(text)
    return out
