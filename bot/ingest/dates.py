"""Find an article's publication date in its text.

Fast path: regular expressions over normalized lines (normalize_for_match, so
hamza/alef variants and Arabic-Indic digits need no special cases), with a month table
covering MSA (يناير … ديسمبر and spelling variants), Levantine (كانون الثاني … كانون
الأول), Maghrebi (جانفي، فيفري …), Moroccan (يوليوز، غشت، شتنبر، نونبر، دجنبر) and English names, double forms such as
`آب/اغسطس` or `كانون ثان/ يناير`, and numeric dates (2021-12-31, 31/12/2021).
dateparser is only a fallback for the short text after a date label, because it is
slow (tens of ms per call) and too eager on whole texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from functools import cache

from bot.ingest.arabic import normalize_for_match

MIN_YEAR = 1970
MAX_YEAR = 2100
SCAN_CHARS = 1500

# Keys are written as normalize_for_match leaves them (ا for أ/إ/آ, ه for ة, ي for ى).
_MONTHS: dict[str, int] = {
    # MSA / Egyptian
    "يناير": 1,
    "فبراير": 2,
    "مارس": 3,
    "ابريل": 4,
    "ابرايل": 4,
    "مايو": 5,
    "يونيو": 6,
    "يونيه": 6,
    "يوليو": 7,
    "يوليه": 7,
    "اغسطس": 8,
    "اغسطوس": 8,
    "سبتمبر": 9,
    "اكتوبر": 10,
    "نوفمبر": 11,
    "ديسمبر": 12,
    # Levantine / Iraqi
    "كانون الثاني": 1,
    "كانون ثاني": 1,
    "كانون ثان": 1,
    "شباط": 2,
    "اذار": 3,
    "نيسان": 4,
    "ايار": 5,
    "حزيران": 6,
    "تموز": 7,
    "اب": 8,
    "ايلول": 9,
    "تشرين الاول": 10,
    "تشرين اول": 10,
    "تشرين الثاني": 11,
    "تشرين ثاني": 11,
    "تشرين ثان": 11,
    "كانون الاول": 12,
    "كانون اول": 12,
    # Maghrebi
    "جانفي": 1,
    "فيفري": 2,
    "افريل": 4,
    "ماي": 5,
    "جوان": 6,
    "جويليه": 7,
    "اوت": 8,
    # Moroccan (يناير، فبراير، مارس، أبريل، ماي، يونيو as MSA; then these)
    "يوليوز": 7,
    "غشت": 8,
    "شتنبر": 9,
    "نونبر": 11,
    "دجنبر": 12,
    # English
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}

_MONTH = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
# A month, optionally doubled: "اب/اغسطس", "كانون ثان/ يناير", "يونيو/ حزيران".
_MONTH_GROUP = rf"(?P<m1>{_MONTH})(?:\s*[/\-(]\s*(?P<m2>{_MONTH})\)?)?"
_SEP = r"[\s,،.\-]*"
_WB = r"(?<![^\W\d_])"  # not preceded by a letter
_WE = r"(?![^\W\d_])"  # not followed by a letter
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\d)(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{_SEP}{_WB}{_MONTH_GROUP}{_WE}{_SEP}(?:سنه\s*|عام\s*)?(?P<y>\d{{4}})(?!\d)"
)
_MONTH_DAY_YEAR = re.compile(
    rf"{_WB}{_MONTH_GROUP}{_WE}\.?\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{_SEP}(?P<y>\d{{4}})(?!\d)"
)
_ISO = re.compile(r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)")
# "1/12/2020", "01-12-2020", and with spaces around slashes: "١ / ١٢ / ٢٠٢٠"
_NUM_SEP = r"(?:[-/.]|\s*/\s*)"
_DMY_NUMERIC = re.compile(
    rf"(?<!\d)(?P<d>\d{{1,2}}){_NUM_SEP}(?P<m>\d{{1,2}}){_NUM_SEP}(?P<y>\d{{4}})(?!\d)"
)

_PUBLISHED_LABELS = (
    "تاريخ النشر",
    "تاريخ نشر",
    "نشر في",
    "نشر بتاريخ",
    "تم النشر",
    "نشر يوم",
    "published",
    "posted on",
    "date published",
)
_UPDATED_LABELS = ("اخر تحديث", "تاريخ التحديث", "تم التحديث", "updated", "last updated")


def _make(y: str, m: int, d: str) -> date | None:
    year, day = int(y), int(d)
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, m, day)
    except ValueError:
        return None


def _month(match: re.Match[str]) -> int:
    # In a double form the two names agree; if not, trust the first (the local name).
    return _MONTHS[match.group("m1")]


def _dates_in(norm: str) -> Iterator[tuple[int, date]]:
    """Yield (position, date) for every date written in the normalized string `norm`."""
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        for m in pattern.finditer(norm):
            found = _make(m.group("y"), _month(m), m.group("d"))
            if found:
                yield m.start(), found
    for m in _ISO.finditer(norm):
        found = _make(m.group("y"), int(m.group("m")), m.group("d"))
        if found:
            yield m.start(), found
    for m in _DMY_NUMERIC.finditer(norm):
        # Arabic sites write day/month/year; swap only when that cannot be a date.
        d, mo = m.group("d"), int(m.group("m"))
        found = _make(m.group("y"), mo, d) or _make(m.group("y"), int(d), str(mo))
        if found:
            yield m.start(), found


def _first_date(norm: str) -> date | None:
    best = min(_dates_in(norm), default=None, key=lambda pd: pd[0])
    return best[1] if best else None


@cache
def _dateparser_fallback(fragment: str) -> date | None:
    """dateparser on a short fragment holding a 4-digit year (relative dates like "منذ 3
    ساعات" depend on the current time and are not publication dates we can trust)."""
    if not re.search(r"(?<![\d+\-])(19|20)\d\d(?!\d)", fragment):
        return None
    import dateparser  # slow import; only needed for odd label formats

    parsed = dateparser.parse(
        fragment,
        languages=["ar", "en"],
        settings={
            "REQUIRE_PARTS": ["day", "month", "year"],
            "PREFER_DATES_FROM": "past",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        return None
    found: date = parsed.date()
    return found


def _labelled(lines: list[str], labels: tuple[str, ...]) -> date | None:
    for line in lines:
        for label in labels:
            pos = line.find(label)
            if pos < 0:
                continue
            rest = line[pos + len(label) :].lstrip(" :：-–—")
            found = _first_date(rest[:80])
            if found is None and rest:
                found = _dateparser_fallback(rest[:60])
            if found:
                return found
    return None


def find_date(text: str, *, scan_chars: int = SCAN_CHARS) -> date | None:
    """Return the publication date written in `text`, or None.

    Order: a line labelled as the publication date (تاريخ النشر, نشر في, Published …),
    then one labelled as an update (آخر تحديث, Updated …), then the first plausible date
    in the first `scan_chars` characters. Years outside 1970–2100 are ignored. Never raises.
    """
    head = text[: max(scan_chars, 4000)]
    lines = [normalize_for_match(line) for line in head.splitlines()]
    lines = [line for line in lines if line]
    found = _labelled(lines, _PUBLISHED_LABELS) or _labelled(lines, _UPDATED_LABELS)
    if found:
        return found
    return _first_date(normalize_for_match(text[:scan_chars]))


def date_line_spans(text: str) -> list[str]:
    """Return the lines of `text` that are only date metadata (a label plus a date).

    Used by the extractor to drop lines such as `تاريخ النشر الأصلي: 31 ديسمبر، 2021`
    from the body. A line counts when it starts with a known label and is short.
    """
    out: list[str] = []
    labels = _PUBLISHED_LABELS + _UPDATED_LABELS
    for line in text.splitlines():
        norm = normalize_for_match(line)
        is_label = 0 < len(norm) <= 90 and any(label in norm[:30] for label in labels)
        if is_label and (_first_date(norm) or _dateparser_fallback(norm[:60])):
            out.append(line)
    return out
