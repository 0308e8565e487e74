"""Rendering a Briefing as one Telegram HTML message (or plain text for the CLI preview).

Layout, in the subscriber's language: a dated bold title, then numbered stories (bold
headline, one or two bullets, the source names as links and "(3 sources)" when the
story was merged from several outlets). Under it, one "full digest" button per story
(callback `bd:<article id>`, 23 bytes) and an Unsubscribe button (`bu`). Every piece of
article or model text is escaped, and each line carries direction marks (`rtl_line`).
The message is split only when it exceeds Telegram's 4096 characters; the keyboard
goes on the last part.

An update of a story the subscriber was told before (issue 23) is labelled
("🔄 Update") and says since when it is new; stories left out because nothing was new
are counted in one line under the items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.i18n import t
from bot.messages import Button
from bot.render import escape, escape_attr, rtl_line, split_html

DIGEST_PREFIX = "bd:"
UNSUBSCRIBE = "bu"
BUTTONS_PER_ROW = 5


@dataclass
class BriefingItem:
    story_id: str
    article_id: str  # the lead article (the "full digest" button opens it)
    headline: str
    bullets: list[str]
    links: list[tuple[str, str]]  # (source name, url), one per source
    path: str = "llm"
    update_of: date | None = None  # an update: the day of the earlier briefing


@dataclass
class Briefing:
    """One subscriber's briefing for a local date, in their language."""

    lang: str
    day: date
    items: list[BriefingItem] = field(default_factory=list)
    left_out: int = 0  # stories told before with nothing new since

    @property
    def empty(self) -> bool:
        return not self.items


def _date(lang: str, day: date) -> str:
    return f"{day.day} {t(lang, f'digest.month_{day.month}')} {day.year}"


def title(b: Briefing) -> str:
    return t(b.lang, "briefing.title", date=_date(b.lang, b.day))


def headline(item: BriefingItem, lang: str, n: int) -> str:
    """The item's numbered headline, labelled when it is an update."""
    if item.update_of is None:
        return f"{n}. {item.headline}"
    return f"{n}. {t(lang, 'briefing.update_label')}: {item.headline}"


def since_note(item: BriefingItem, lang: str) -> str:
    """ "New since your briefing of <date>:" for an update, else ""."""
    if item.update_of is None:
        return ""
    return t(lang, "briefing.update_since", date=_date(lang, item.update_of))


def left_out_note(b: Briefing) -> str:
    return t(b.lang, "briefing.left_out", count=b.left_out) if b.left_out else ""


def _sources_note(item: BriefingItem, lang: str) -> str:
    n = len(item.links)
    return t(lang, "briefing.sources_count", count=n) if n > 1 else ""


def render_html(b: Briefing) -> str:
    """The whole briefing as Telegram HTML (unsplit)."""
    lang = b.lang
    lines = [f"<b>{escape(rtl_line(title(b), lang))}</b>"]
    if b.empty:
        lines += ["", escape(rtl_line(t(lang, "briefing.empty"), lang))]
        if b.left_out:
            lines += ["", f"<i>{escape(rtl_line(left_out_note(b), lang))}</i>"]
        return "\n".join(lines)
    for i, item in enumerate(b.items, 1):
        lines.append("")
        lines.append(f"<b>{escape(rtl_line(headline(item, lang, i), lang))}</b>")
        if item.update_of is not None:
            lines.append(f"<i>{escape(rtl_line(since_note(item, lang), lang))}</i>")
        lines += [escape(rtl_line(f"• {bullet}", lang)) for bullet in item.bullets]
        links = " · ".join(
            f'<a href="{escape_attr(url)}">{escape(name)}</a>' for name, url in item.links
        )
        note = _sources_note(item, lang)
        mark = "\u200f" if lang == "ar" else "\u200e"
        lines.append(f"{mark}{links}" + (f" {escape(note)}" if note else ""))
    if b.left_out:
        lines += ["", f"<i>{escape(rtl_line(left_out_note(b), lang))}</i>"]
    if any(item.path == "extractive" for item in b.items):
        lines += ["", f"<i>{escape(rtl_line(t(lang, 'briefing.offline_note'), lang))}</i>"]
    return "\n".join(lines)


def keyboard(b: Briefing) -> list[list[Button]]:
    """One "full digest" button per story, then Unsubscribe."""
    digest = [
        Button(t(b.lang, "briefing.digest_button", n=i), callback=DIGEST_PREFIX + item.article_id)
        for i, item in enumerate(b.items, 1)
    ]
    rows = [digest[i : i + BUTTONS_PER_ROW] for i in range(0, len(digest), BUTTONS_PER_ROW)]
    rows.append([Button(t(b.lang, "briefing.unsubscribe_button"), callback=UNSUBSCRIBE)])
    return rows


def render_parts(b: Briefing) -> list[tuple[str, list[list[Button]]]]:
    """Message parts to send: one unless over 4096 characters; buttons on the last."""
    parts = split_html(render_html(b))
    buttons = keyboard(b)
    return [(p, buttons if i == len(parts) - 1 else []) for i, p in enumerate(parts)]


def render_text(b: Briefing) -> str:
    """Plain text for `briefing preview` (no markup, links written out)."""
    lines = [title(b)]
    if b.empty:
        lines += ["", t(b.lang, "briefing.empty")]
        return "\n".join([*lines, "", left_out_note(b)] if b.left_out else lines)
    for i, item in enumerate(b.items, 1):
        lines += ["", headline(item, b.lang, i)]
        if item.update_of is not None:
            lines.append(f"   {since_note(item, b.lang)}")
        lines += [f"   • {bullet}" for bullet in item.bullets]
        note = _sources_note(item, b.lang)
        lines.append(
            "   " + " · ".join(name for name, _ in item.links) + (f" {note}" if note else "")
        )
        lines += [f"     {url}" for _, url in item.links]
    if b.left_out:
        lines += ["", left_out_note(b)]
    if any(item.path == "extractive" for item in b.items):
        lines += ["", t(b.lang, "briefing.offline_note")]
    return "\n".join(lines)
