"""Turn a fetched page or pasted text into an Article (pure, synchronous).

HTML goes through trafilatura (`favor_precision=True`: a single-paragraph article would
otherwise leak boilerplate); pasted text goes through the same line rules. Both then
drop boilerplate lines by the rules in `bot/data/boilerplate.toml` (data, not code):
comment policies, "المصدر:" lines, e-mail addresses, author boxes, menus, and
"drop everything after" markers such as `قد يهمك ايضاً`.

trafilatura takes a few ms per page; callers on an event loop may wrap extract_html in
`asyncio.to_thread` for very large pages.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from bot.domain import Article
from bot.errors import NotAnArticle, NotProse, TextTooShort
from bot.ingest.arabic import clean_text, detect_language, letter_count, normalize_for_match, tokens
from bot.ingest.dates import date_line_spans, find_date
from bot.ingest.inputs import MIN_CHARS
from bot.ingest.page_dates import choose_date, meta_dates

MIN_ARTICLE_CHARS = 150  # below this a page holds no article
PARTIAL_CHARS = 600  # an extracted body shorter than this looks partial
TITLE_MAX_CHARS = 200
PAYWALL_LINE_CHARS = 160  # a line this short holding a paywall marker is a notice
# What prose has and junk does not (see require_prose).
PROSE_MIN_LETTERS = 0.4  # share of letters among the characters that are not spaces
PROSE_MIN_WORDS = 5  # distinct words
PROSE_MAX_TOP_WORD = 0.5  # share of the words that the most frequent word may take

_EDGE_PUNCT = " .:!؟?،,…\"'“”«»()[]-–—"


@dataclass(frozen=True)
class Rules:
    """Compiled boilerplate rules (see bot/data/boilerplate.toml for their meaning)."""

    cut_after: frozenset[str]
    min_body_chars: int
    drop_exact: frozenset[str]
    drop_prefix: tuple[str, ...]
    drop_regex: tuple[re.Pattern[str], ...]
    author_box: re.Pattern[str] | None
    inline: tuple[re.Pattern[str], ...]
    paywall: tuple[str, ...]


def _key(line: str) -> str:
    return normalize_for_match(line).strip(_EDGE_PUNCT)


@cache
def load_rules(path: Path | None = None) -> Rules:
    """Load and compile the boilerplate rules (default: bot/data/boilerplate.toml)."""
    if path is None:
        raw = resources.files("bot").joinpath("data", "boilerplate.toml").read_text("utf-8")
    else:
        raw = path.read_text("utf-8")
    data = tomllib.loads(raw)
    cut = data.get("cut_after", {})
    drop = data.get("drop", {})
    box = data.get("author_box", {}).get("regex")
    return Rules(
        cut_after=frozenset(_key(p) for p in cut.get("exact", [])),
        min_body_chars=int(cut.get("min_body_chars", 200)),
        drop_exact=frozenset(_key(p) for p in drop.get("exact", [])),
        drop_prefix=tuple(normalize_for_match(p) for p in drop.get("prefix", [])),
        drop_regex=tuple(re.compile(r, re.I) for r in drop.get("regex", [])),
        author_box=re.compile(box, re.I) if box else None,
        inline=tuple(re.compile(r, re.I) for r in data.get("inline", {}).get("regex", [])),
        paywall=tuple(normalize_for_match(m) for m in data.get("paywall", {}).get("markers", [])),
    )


def _is_boilerplate(norm: str, rules: Rules) -> bool:
    if norm.strip(_EDGE_PUNCT) in rules.drop_exact or norm in rules.drop_exact:
        return True
    if norm.startswith(rules.drop_prefix):
        return True
    return any(r.search(norm) for r in rules.drop_regex)


def strip_boilerplate(lines: list[str], rules: Rules | None = None) -> list[str]:
    """Return `lines` (clean, one paragraph or line each; "" keeps a blank) without boilerplate.

    Applies, in order: "cut after" markers, the author box (its name line too), the
    line rules, then inline removals (e-mail addresses); lines emptied by those go too.
    """
    rules = rules or load_rules()
    out: list[str] = []
    body_chars = 0
    skip_name: str | None = None
    for line in lines:
        norm = normalize_for_match(line)
        if not norm:
            out.append("")
            continue
        if skip_name is not None:
            name, skip_name = skip_name, None
            if norm.strip(_EDGE_PUNCT) == name:
                continue
        if norm.strip(_EDGE_PUNCT) in rules.cut_after:
            if body_chars >= rules.min_body_chars:
                break
            continue
        if rules.author_box is not None and (m := rules.author_box.match(norm)):
            skip_name = m.group("name").strip(_EDGE_PUNCT)
            continue
        if _is_boilerplate(norm, rules):
            continue
        for pattern in rules.inline:
            line = pattern.sub("", line)
        line = clean_text(line)
        if not line or not any(ch.isalnum() for ch in line):
            continue
        if _is_boilerplate(normalize_for_match(line), rules):
            continue  # e.g. "ارسلوا مقالاتكم للنشر إلى:" once its e-mail is gone
        out.append(line)
        body_chars += len(line)
    return out


def _paragraphs(lines: list[str]) -> str:
    """Join kept lines into paragraphs separated by blank lines (each line is a paragraph)."""
    return "\n\n".join(line for line in lines if line)


def _split_paywall(lines: list[str], rules: Rules) -> tuple[list[str], bool]:
    """Return (lines without short paywall notices, whether any paywall marker was seen).

    A short line holding a marker ("هذا المحتوى للمشتركين") is a notice, not article text,
    and is dropped; a marker inside a long paragraph only flags the article as partial.
    """
    kept: list[str] = []
    seen = False
    for line in lines:
        norm = normalize_for_match(line)
        if any(marker in norm for marker in rules.paywall):
            seen = True
            if len(line) <= PAYWALL_LINE_CHARS:
                continue
        kept.append(line)
    return kept, seen


def _same_heading(a: str, b: str) -> bool:
    ta, tb = tokens(a), tokens(b)
    return bool(ta) and ta == tb


_TITLE_PARTS = re.compile(r"(?<!\s)\s+[-|–—:]+\s+")  # (?<!\s): linear on long space runs


def _headline_in(title: str, line: str) -> str | None:
    """`line` when it is the page title, or the title without its site-name part
    ("المدينة نيوز - <headline>"); else None."""
    if _same_heading(line, title):
        return title
    parts = _TITLE_PARTS.split(title)
    if len(parts) > 1 and any(_same_heading(line, part) for part in parts):
        return line
    return None


def _looks_like_title(line: str) -> bool:
    return 0 < len(line) <= TITLE_MAX_CHARS and not line.rstrip("”\"'»)").endswith((".", "،", ":"))


def _take_title(lines: list[str]) -> tuple[str | None, list[str]]:
    """Split off a leading title line and any repeats of it just below (re-posts repeat it)."""
    body = [line for line in lines if line]
    if len(body) < 2 or not _looks_like_title(body[0]):
        return None, body
    title = body[0]
    rest = body[1:]
    # drop repeats of the heading among the next few lines ("title, date, title again")
    head = [line for line in rest[:3] if _same_heading(line, title)]
    rest = [line for i, line in enumerate(rest) if not (i < 3 and line in head)]
    return title, rest


def _require_words(words: list[str]) -> Counter[str]:
    counts = Counter(words)
    if len(counts) < PROSE_MIN_WORDS:
        raise NotProse(f"{len(counts)} distinct words")
    return counts


def require_prose(body: str) -> None:
    """Raise NotProse unless `body` reads like an article.

    Junk has almost no letters (a page of digits or symbols), fewer than
    PROSE_MIN_WORDS distinct words (one endless word, a page of "x" lines), or one word
    that makes up more than PROSE_MAX_TOP_WORD of all words. Real news, lists and tables
    included, is far from each limit: its most frequent word (و, the) is under 10 %.
    """
    visible = len(body) - sum(body.count(ch) for ch in " \n\t")
    letters = letter_count(body)
    if visible and letters / visible < PROSE_MIN_LETTERS:
        raise NotProse(f"{letters} letters in {visible} characters")
    words = tokens(body)
    counts = _require_words(words)
    top = counts.most_common(1)[0][1]
    if top > PROSE_MAX_TOP_WORD * len(words):
        raise NotProse(f"one word is {top} of {len(words)} words")


def extract_text(text: str) -> Article:
    """Return an Article (source_kind="text") from pasted article text.

    Cleans the text (clean_text), finds the date (dates.find_date) and removes the date
    metadata line, removes boilerplate by the data-file rules, takes the title from a
    short first line (dropping its repeat below it). `partial` is set when paywall
    markers appear (short paywall notices are dropped from the body). Raises TextTooShort (param `chars`) when the remaining body is under
    MIN_CHARS characters, NotProse when it is not prose (require_prose).
    """
    rules = load_rules()
    cleaned = clean_text(text)
    if len(cleaned) >= MIN_CHARS:  # (a short text is TextTooShort, below)
        # dropping lines cannot add words: refuse a page of "x" lines before the line rules
        _require_words(tokens(cleaned))
    published = find_date(cleaned)
    date_lines = set(date_line_spans(cleaned))
    lines = [line for line in cleaned.split("\n") if line not in date_lines]
    kept, paywalled = _split_paywall(strip_boilerplate(lines, rules), rules)
    title, body_lines = _take_title(kept)
    body = _paragraphs(body_lines)
    if len(body) < MIN_CHARS:
        raise TextTooShort(f"article body has {len(body)} characters", chars=len(body))
    require_prose(body)
    return Article(
        text=body,
        title=title,
        published=published,
        language=detect_language(body),
        partial=paywalled,
        source_kind="text",
    )


def _visible_text(html: str) -> str:
    """Return the visible text of a page, one block per line (scripts and styles removed)."""
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return ""
    for bad in root.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    for block in root.xpath("//br|//p|//div|//h1|//h2|//h3|//li|//tr|//time|//span"):
        block.tail = "\n" + (block.tail or "")
    return clean_text(root.text_content())


def _page_date(html: str, title: str | None, body: str) -> date | None:
    """Find the date written on the page: just below the headline, then in the body."""
    visible = _visible_text(html)
    if title:
        pos = visible.find(clean_text(title))
        if pos >= 0:
            found = find_date(visible[pos : pos + 1500])
            if found:
                return found
    return find_date(body) or find_date(visible)


def _parse_iso(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def extract_html(html: str, url: str | None = None) -> Article:
    """Return an Article (source_kind="url") extracted from an HTML page.

    trafilatura (favor_precision, no comments) gives the main text and metadata (title,
    site name or host name, author, date); the boilerplate rules then drop lines such as
    comment policies. The date is trafilatura's unless it is missing or only a year-start
    default (YYYY-01-01), in which case a date written below the headline (or in the
    body) wins. `partial` is set for a body under 600 characters or with paywall markers.
    Raises NotAnArticle when no article text (under 150 characters) remains, NotProse
    when what remains is not prose (require_prose).
    """
    import trafilatura

    rules = load_rules()
    doc = trafilatura.bare_extraction(
        html,
        url=url,
        favor_precision=True,
        with_metadata=True,
        include_comments=False,
    )
    raw = (getattr(doc, "text", None) or "") if doc is not None else ""
    kept, paywalled = _split_paywall(strip_boilerplate(clean_text(raw).split("\n"), rules), rules)
    title = clean_text(getattr(doc, "title", None) or "") or None
    kept = [line for line in kept if line]
    if title and kept:
        headline = _headline_in(title, kept[0])
        if headline is not None:
            kept, title = kept[1:], headline  # the headline repeated as the first paragraph
    body = _paragraphs(kept)
    if len(body) < MIN_ARTICLE_CHARS:
        raise NotAnArticle(f"extracted text has {len(body)} characters")
    require_prose(body)
    published = choose_date(
        meta_dates(html),
        _parse_iso(getattr(doc, "date", None)),
        lambda: _page_date(html, title, body),
    )
    host = urlsplit(url).hostname if url else None
    site = getattr(doc, "sitename", None) or getattr(doc, "hostname", None) or host
    author = getattr(doc, "author", None)
    return Article(
        text=body,
        title=title,
        url=url,
        site_name=clean_text(site) if site else None,
        author=clean_text(author) if author else None,
        published=published,
        language=detect_language(body),
        partial=len(body) < PARTIAL_CHARS or paywalled,
        source_kind="url",
    )
