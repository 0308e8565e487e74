"""Due-time math for daily briefings: pure functions, no I/O, DST-correct via zoneinfo.

A subscriber picks a local wall-clock time (`hhmm`) and an IANA zone. Each local
calendar day has exactly one delivery slot:

* Normal days: the slot is `hhmm` local time, whatever the UTC offset that day, so a
  07:00 subscriber gets the briefing at 07:00 on both sides of a DST change.
* Spring-forward gap (the local time does not exist that day, e.g. 02:30 in
  America/New_York on the second Sunday of March, or 00:30 in Asia/Beirut on its
  change day): the slot is moved forward by the length of the gap (02:30 -> 03:30).
  This is what zoneinfo's `fold=0` gives when converted to UTC, and it keeps the
  slot on the same local date.
* Fall-back overlap (the local time happens twice, e.g. 01:30 in Europe/London on the
  last Sunday of October): the slot is the FIRST occurrence (`fold=0`); the second
  one is not a new slot, so the subscriber still gets one briefing that day.

Every function returns or takes aware datetimes; results are in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]?\d|2[0-3])[:.٫]([0-5]\d)$")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


@cache
def zone(tz: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; raises ValueError when the name is unknown."""
    if not tz or tz.startswith("/") or ".." in tz:
        raise ValueError(f"unknown time zone: {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone: {tz!r}") from None


def is_zone(tz: str) -> bool:
    """True when `tz` is a known IANA zone name."""
    try:
        zone(tz)
    except ValueError:
        return False
    return True


def parse_hhmm(text: str) -> time:
    """Parse "7:00", "07:00", "٠٧:٣٠" into a time; raises ValueError otherwise."""
    m = _HHMM.match(text.strip().translate(_DIGITS))
    if not m:
        raise ValueError(f"not a HH:MM time: {text!r}")
    return time(int(m.group(1)), int(m.group(2)))


def format_hhmm(at: time) -> str:
    return f"{at.hour:02d}:{at.minute:02d}"


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware (UTC) datetime")
    return at.astimezone(UTC)


def slot_on(day: date, hhmm: time, tz: str) -> datetime:
    """The UTC instant of the delivery slot on local date `day` (see module doc for gaps)."""
    local = datetime.combine(day, hhmm.replace(tzinfo=None, fold=0), tzinfo=zone(tz))
    return local.astimezone(UTC)


def local_date(at: datetime, tz: str) -> date:
    """The calendar date in zone `tz` at the instant `at` (aware)."""
    return _utc(at).astimezone(zone(tz)).date()


def next_due(hhmm: time, tz: str, after: datetime) -> datetime:
    """The first delivery slot strictly after `after`, as an aware UTC datetime.

    Raises ValueError for an unknown zone or a naive `after`.
    """
    after_utc = _utc(after)
    today = local_date(after_utc, tz)
    for offset in range(-1, 3):
        candidate = slot_on(today + timedelta(days=offset), hhmm, tz)
        if candidate > after_utc:
            return candidate
    raise AssertionError("no slot within three days")  # pragma: no cover - impossible


def slot_date(due_at: datetime, tz: str) -> date:
    """The local date a slot belongs to (the key of 'one briefing per local day')."""
    return local_date(due_at, tz)
