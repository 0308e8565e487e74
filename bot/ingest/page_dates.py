"""A web page's publication date from its metadata and from the date it shows.

Metadata (Open Graph / article:*, itemprop, <meta name=...>, JSON-LD) gives published
and modified times, often with a time and a zone. The page's own visible date (below
the headline) is in the publisher's local time. Rules:

* a published time with a zone that falls on the day before (or after) the visible
  local date, by no more than MAX_OFFSET hours, is the same moment seen in UTC: the
  visible local date wins;
* a "modified" date earlier than the published one is ignored (it is a CMS artefact);
* metadata written as Arabic text ("الأربعاء، 07 أكتوبر 2020 - 12:09 م") is read with
  the same month tables as the body (bot/ingest/dates.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from bot.ingest.dates import find_date

MAX_OFFSET = timedelta(hours=5)  # MENA publishers sit between UTC+0 and UTC+4

_PUBLISHED = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish_date",
    "publication_date",
    "dc.date.issued",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
)
_MODIFIED = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "last-modified",
    "dcterms.modified",
)
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?"
)


@dataclass(frozen=True)
class Stamp:
    """A date from metadata; `moment` when it had a time and a zone (aware)."""

    day: date
    moment: datetime | None = None


@dataclass
class MetaDates:
    published: list[Stamp] = field(default_factory=list)
    modified: list[Stamp] = field(default_factory=list)


def parse_stamp(value: str) -> Stamp | None:
    """An ISO date or date-time (with or without a zone), or a date written in words."""
    m = _ISO.match(value or "")
    if not m:
        found = find_date(value or "", scan_chars=200)
        return Stamp(found) if found else None
    y, mo, d, hh, mm, ss, zone = m.groups()
    try:
        day = date(int(y), int(mo), int(d))
        if hh is None or zone is None:
            return Stamp(day)
        iso = f"{y}-{mo}-{d}T{hh}:{mm}:{ss or '00'}"
        zone = "+00:00" if zone == "Z" else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
        return Stamp(day, datetime.fromisoformat(iso + zone))
    except ValueError:
        return None


def _json_ld(root: object) -> Iterator[tuple[str, str]]:
    for script in root.xpath("//script[@type='application/ld+json']"):  # type: ignore[attr-defined]
        try:
            data = json.loads(script.text_content() or "")
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                for key, value in item.items():
                    if isinstance(value, str) and key in ("datePublished", "dateModified"):
                        yield key.lower(), value
                    elif isinstance(value, dict | list):
                        stack.append(value)


def _pairs(root: object) -> Iterator[tuple[str, str]]:
    """(name, value) of every date-bearing meta tag, itemprop and JSON-LD field."""
    for meta in root.xpath("//meta[@content]"):  # type: ignore[attr-defined]
        name = meta.get("property") or meta.get("name") or meta.get("itemprop") or ""
        yield name.strip().lower(), meta.get("content", "")
    for node in root.xpath("//*[@itemprop and @datetime]"):  # type: ignore[attr-defined]
        yield node.get("itemprop", "").lower(), node.get("datetime", "")
    yield from _json_ld(root)


def meta_dates(html: str) -> MetaDates:
    """The published and modified stamps a page's metadata declares, in page order."""
    import lxml.html

    out = MetaDates()
    try:
        root = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return out
    for name, value in _pairs(root):
        target = (
            out.published if name in _PUBLISHED else out.modified if name in _MODIFIED else None
        )
        stamp = parse_stamp(value) if target is not None else None
        if stamp is not None:
            target.append(stamp)  # type: ignore[union-attr]
    return out


def _same_moment(stamp: Stamp, visible: date) -> bool:
    """True when the zoned moment, seen from a zone at most MAX_OFFSET away from UTC,
    falls on the visible local date (and that is not the stamp's own date)."""
    if stamp.moment is None or visible == stamp.day:
        return False
    utc = stamp.moment.astimezone(UTC)
    return (utc - MAX_OFFSET).date() <= visible <= (utc + MAX_OFFSET).date()


def _near_midnight(stamp: Stamp) -> bool:
    """True when a zone at most MAX_OFFSET away could see the moment on another day."""
    if stamp.moment is None:
        return False
    utc = stamp.moment.astimezone(UTC)
    return (utc - MAX_OFFSET).date() != (utc + MAX_OFFSET).date()


def choose_date(
    meta: MetaDates, extracted: date | None, visible: Callable[[], date | None]
) -> date | None:
    """The article's date: the first published stamp (the visible local date when they
    are the same moment in different zones), else the extractor's date unless it is a
    modified date earlier than the visible one or a year-start default, else the
    visible date. `visible` (the date the page shows; it parses the page) is called
    only when needed."""
    if meta.published:
        stamp = meta.published[0]
        if _near_midnight(stamp):
            shown = visible()
            if shown is not None and _same_moment(stamp, shown):
                return shown
        return stamp.day
    if extracted is not None and (extracted.month, extracted.day) != (1, 1):
        if not any(m.day == extracted for m in meta.modified):
            return extracted
        shown = visible()
        return shown if shown is not None and extracted < shown else extracted
    return visible() or extracted
