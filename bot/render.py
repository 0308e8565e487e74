"""Rendering digests as Telegram HTML or plain text: escaping, direction marks, splitting.

Pure functions, no `telegram` import. Telegram's HTML mode allows a few tags only and
needs `<`, `>` and `&` escaped everywhere else, so every piece of model or article text
goes through `escape`. Lengths are counted like Telegram counts them: after entity
parsing, in UTF-16 code units (so an emoji counts 2).

Right to left: Telegram clients pick a paragraph's direction from its first strong
character. `rtl_line` puts a direction mark first (RLM for Arabic lines, LRM for English
ones) and wraps Latin phrases inside Arabic lines in a left-to-right isolate, so
"2024 Olympics" or "GPT-4 Turbo" keep their order inside Arabic text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date

from bot.domain import Digest, Partial
from bot.i18n import t

RLM = "\u200f"
LRM = "\u200e"
LRI = "\u2066"
RLI = "\u2067"
PDI = "\u2069"
MARKS = RLM + LRM + LRI + RLI + PDI + "\u202a\u202b\u202c\u202d\u202e"
BULLET = "• "
TELEGRAM_LIMIT = 4096

_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
# a Latin phrase: Latin words and numbers joined by spaces or light punctuation
_LATIN_RUN = re.compile(
    r"[A-Za-z0-9\u00C0-\u024F](?:[A-Za-z0-9\u00C0-\u024F'’.\-+/&]|[ ,:](?=[A-Za-z0-9\u00C0-\u024F]))*"
)
_TOKEN = re.compile(r"<[^<>]*>|&(?:[a-zA-Z]+|#[0-9]+|#[xX][0-9a-fA-F]+);|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)")


def escape(text: str) -> str:
    """Return `text` safe for Telegram HTML: `&`, `<` and `>` become entities."""
    return html.escape(text, quote=False)


def escape_attr(text: str) -> str:
    """Return `text` safe inside a double-quoted attribute (href)."""
    return html.escape(text, quote=True)


_MARKS_RE = re.compile(f"[{MARKS}]")


def strip_marks(text: str) -> str:
    """Return `text` without any direction marks or isolates."""
    return _MARKS_RE.sub("", text)


def line_direction(line: str, lang: str | None) -> str:
    """Return "rtl" or "ltr": the way `line` should read.

    In an Arabic context a line is RTL unless it holds no Arabic letter; in an English
    context it is LTR unless it holds no Latin letter; without a context, the script
    with more letters wins (ties and lines without letters: LTR).
    """
    arabic = len(_ARABIC.findall(line))
    latin = len(_LATIN.findall(line))
    if lang == "ar":
        return "rtl" if arabic or not latin else "ltr"
    if lang == "en":
        return "ltr" if latin or not arabic else "rtl"
    return "rtl" if arabic > latin else "ltr"


def rtl_line(line: str, lang: str | None) -> str:
    """Return `line` with direction marks so that it renders the right way round.

    An RTL line starts with RLM (even when its first word is Latin or a number), and its
    Latin phrases are wrapped in LRI…PDI so their words keep their order. An LTR line
    starts with LRM (even when it starts with Arabic). Only marks are inserted: removing
    them gives back the input; marks already present are replaced, so applying it twice
    changes nothing. Blank lines come back without marks.
    """
    body = strip_marks(line)
    if not body.strip():
        return body
    if line_direction(body, lang) == "ltr":
        return LRM + body
    return RLM + _LATIN_RUN.sub(_isolate, body)


def _isolate(m: re.Match[str]) -> str:
    run = m.group(0)
    # a lone number or a single Latin word needs no isolate; phrases do
    if not _LATIN.search(run) or (" " not in run and not run[0].isdigit()):
        return run
    # never split a /command, @mention, #tag or link: Telegram must still recognize them
    before = m.string[m.start() - 1] if m.start() else ""
    if (before and before in "/@#:.") or "/" in run:
        return run
    return LRI + run + PDI


def rtl_text(text: str, lang: str | None) -> str:
    """Apply `rtl_line` to every line of `text`."""
    return "\n".join(rtl_line(line, lang) for line in text.split("\n"))


# --- digests ------------------------------------------------------------------


def _date_line(d: Digest, ui: str) -> str | None:
    if d.published is None:
        return None
    line = t(ui, "digest.published", date=_fmt_date(d.published, ui))
    if d.old and d.age_days is not None:
        line += " · " + t(ui, "digest.old", days=d.age_days)
    return line


def _fmt_date(day: date, ui: str) -> str:
    month = t(ui, f"digest.month_{day.month}")
    return f"{day.day} {month} {day.year}"


def _notes(d: Digest, ui: str) -> list[str]:
    notes = []
    if d.partial:
        notes.append(t(ui, "digest.partial"))
    if d.cut:
        notes.append(t(ui, "digest.cut"))
    if d.path == "extractive":
        notes.append(t(ui, "digest.offline"))
    if d.translation_note:
        notes.append(t(ui, "digest.untranslated" if d.path == "llm" else "digest.translated"))
    return notes


def _source_name(d: Digest) -> str | None:
    if d.site_name:
        return d.site_name
    if d.url:
        host = re.sub(r"^https?://", "", d.url).split("/", 1)[0]
        return host.removeprefix("www.") or None
    return None


def _evidence_lines(d: Digest, ui_lang: str, *, marks: bool = True) -> list[str]:
    """The cited article sentences, one numbered line per bullet (unescaped): shown
    folded under a digest so a reader can check each point against the article."""
    quotes = [q for q in d.quotes if q.strip()]
    if not quotes:
        return []
    out = [t(ui_lang, "digest.evidence")]
    for n, q in enumerate(d.quotes, 1):
        if q.strip():
            line = f"{n}. «{q}»"
            out.append(rtl_line(line, None) if marks else line)
    if marks:
        out[0] = rtl_line(out[0], ui_lang)
    return out


VISIBLE_BULLETS = 3  # a detailed digest shows this many points; the rest fold
FOLD_CHARS = 700  # ... when its points are longer than this in all


def _fold_bullets(bullets: list[str], length: str) -> list[str]:
    """A long detailed digest keeps its first points in view and folds the rest into
    an expandable quote (Telegram shows a few lines and "show more"), so it does not
    flood a group; a short digest is never folded."""
    if length != "detailed" or len(bullets) <= VISIBLE_BULLETS:
        return bullets
    if sum(len(b) for b in bullets) <= FOLD_CHARS:
        return bullets
    rest = "\n".join(bullets[VISIBLE_BULLETS:])
    return [*bullets[:VISIBLE_BULLETS], f"<blockquote expandable>{rest}</blockquote>"]


def render_digest_html(d: Digest, ui_lang: str) -> str:
    """Return the digest as Telegram HTML: bold headline, "• " bullets, date, source, notes.

    Every piece of text is escaped and carries direction marks: the headline and bullets
    in the digest's language, the labels in `ui_lang`.
    """
    lines = [f"<b>{escape(rtl_line(d.headline, d.lang))}</b>", ""]
    lines += _fold_bullets(
        [escape(rtl_line(BULLET + b, d.lang)) for b in d.bullets if b.strip()], d.length
    )
    meta: list[str] = []
    date_line = _date_line(d, ui_lang)
    if date_line:
        meta.append(escape(rtl_line("🗓 " + date_line, ui_lang)))
    source = _source_name(d)
    if source:
        label = escape(rtl_line(t(ui_lang, "digest.source", name=source), ui_lang))
        meta.append(f'<a href="{escape_attr(d.url)}">{label}</a>' if d.url else label)
    notes = [f"<i>{escape(rtl_line(n, ui_lang))}</i>" for n in _notes(d, ui_lang)]
    evidence = _evidence_lines(d, ui_lang)
    if evidence:
        body = "\n".join(escape(line) for line in evidence)
        lines += ["", f"<blockquote expandable>{body}</blockquote>"]
    if meta:
        lines += ["", *meta]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def render_partial_html(p: Partial, ui_lang: str) -> str:
    """A digest or answer still being written, as Telegram HTML: the headline in bold
    and the finished bullets (or the answer's text), then a "writing" line."""
    lines = [f"<b>{escape(rtl_line(p.headline, p.lang))}</b>", ""] if p.headline else []
    lines += [escape(rtl_line(BULLET + b, p.lang)) for b in p.bullets]
    if p.text:
        lines += [escape(rtl_text(p.text, p.lang))]
    lines += ["", f"<i>{escape(rtl_line(t(ui_lang, 'progress.writing'), ui_lang))}</i>"]
    return "\n".join(lines)


def render_partial_text(p: Partial) -> str:
    """A digest or answer still being written, as plain text (console and CLI)."""
    lines = [p.headline, ""] if p.headline else []
    lines += [BULLET + b for b in p.bullets]
    return "\n".join([*lines, p.text] if p.text else lines).strip()


def render_digest_text(d: Digest, ui_lang: str) -> str:
    """Return the digest as plain text (console and CLI): no markup, no direction marks."""
    lines = [d.headline, ""]
    lines += [BULLET + b for b in d.bullets if b.strip()]
    meta = []
    date_line = _date_line(d, ui_lang)
    if date_line:
        meta.append(date_line)
    source = _source_name(d)
    if source:
        meta.append(t(ui_lang, "digest.source", name=source) + (f" — {d.url}" if d.url else ""))
    evidence = _evidence_lines(d, ui_lang, marks=False)
    if evidence:
        lines += ["", *evidence]
    if meta:
        lines += ["", *meta]
    notes = _notes(d, ui_lang)
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


# --- measuring and splitting -----------------------------------------------------


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_to_plain(markup: str) -> str:
    """Return the text a user would see for `markup`: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))


def visible_length(markup: str) -> int:
    """Return the length Telegram counts for `markup`: UTF-16 units after entity parsing."""
    return _utf16(html_to_plain(markup))


def _units(markup: str) -> Iterator[tuple[str, str, int]]:
    """Yield (kind, raw, visible length): kind is "tag" or "text" (one char or one entity)."""
    for m in _TOKEN.finditer(markup):
        raw = m.group(0)
        if raw.startswith("<") and len(raw) > 1:
            yield "tag", raw, 0
        elif raw.startswith("&") and len(raw) > 1:
            yield "text", raw, _utf16(html.unescape(raw))
        else:
            for ch in raw:
                yield "text", ch, _utf16(ch)


def _break_rank(units: list[tuple[str, str, int]], i: int) -> int:
    """How good a split before unit `i` is: 3 paragraph, 2 line, 1 word, 0 anywhere."""
    raw = units[i][1]
    if raw == "\n":
        nxt = units[i + 1][1] if i + 1 < len(units) else ""
        prev = units[i - 1][1] if i > 0 else ""
        return 3 if "\n" in (nxt, prev) else 2
    if raw == " ":
        return 1
    return 0


def split_html(markup: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split Telegram HTML into parts of at most `limit` visible characters each.

    Splits at a paragraph break, else a line break, else a space, else anywhere between
    characters; never inside a tag or an entity. Tags open at a split are closed at the
    end of one part and reopened at the start of the next. Returns `[markup]` when it
    fits; parts with no visible text are dropped.
    """
    if visible_length(markup) <= limit:
        return [markup]
    units = list(_units(markup))
    parts: list[str] = []
    opened: list[tuple[str, str]] = []  # (name, raw open tag) open at the part start
    start = 0
    while start < len(units):
        prefix = "".join(raw for _, raw in opened)
        stack = list(opened)
        used = 0
        breaks: list[tuple[int, int, int]] = []  # (rank, index, visible used before it)
        i = start
        while i < len(units):
            kind, raw, width = units[i]
            if kind == "text":
                if used + width > limit:
                    break
                if i > start and raw in " \n":
                    breaks.append((_break_rank(units, i), i, used))
                used += width
            i += 1
        if i >= len(units):
            end, skip = len(units), 0
        elif breaks:
            late = [b for b in breaks if b[2] >= limit // 2] or breaks
            _rank, end, _ = max(late, key=lambda b: (b[0], b[1]))
            skip = 1
        else:
            end, skip = i, 0
            while end > start and units[end - 1][0] == "tag" and not _is_close(units[end - 1][1]):
                end -= 1  # do not leave an open tag dangling at the end of a part
        if end <= start:
            end, skip = max(i, start + 1), 0
        body = []
        for kind, raw, _ in units[start:end]:
            body.append(raw)
            if kind == "tag":
                _track(stack, raw)
        closing = "".join(f"</{name}>" for name, _ in reversed(stack))
        part = prefix + "".join(body) + closing
        if html_to_plain(part).strip():
            parts.append(_trim(part))
        opened = stack
        start = end + skip
    return parts


def _is_close(raw: str) -> bool:
    m = _TAG_NAME.match(raw)
    return bool(m and m.group(1))


def _track(stack: list[tuple[str, str]], raw: str) -> None:
    m = _TAG_NAME.match(raw)
    if not m or raw.endswith("/>"):
        return
    closing, name = m.group(1), m.group(2).lower()
    if not closing:
        stack.append((name, raw))
        return
    for j in range(len(stack) - 1, -1, -1):
        if stack[j][0] == name:
            del stack[j]
            return


def _trim(part: str) -> str:
    """Drop blank lines at the edges of a part (Telegram trims them anyway)."""
    return part.strip("\n ")
