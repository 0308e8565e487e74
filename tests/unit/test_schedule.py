"""Due-time math: zones, DST transitions (gaps and overlaps), and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.briefings.schedule import (
    local_date,
    next_due,
    parse_hhmm,
    slot_date,
    zone,
)

ZONES = ["Europe/London", "America/New_York", "Asia/Beirut", "Asia/Riyadh", "UTC", "Asia/Tokyo"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        # Riyadh: UTC+3 all year, no DST.
        ("Asia/Riyadh", utc(2026, 3, 1, 0, 0), utc(2026, 3, 1, 4, 0)),
        ("Asia/Riyadh", utc(2026, 3, 1, 4, 0), utc(2026, 3, 2, 4, 0)),  # strictly after
        ("Asia/Riyadh", utc(2026, 7, 1, 12, 0), utc(2026, 7, 2, 4, 0)),
        # London: GMT in winter, BST (UTC+1) from 29 March 2026.
        ("Europe/London", utc(2026, 3, 28, 8, 0), utc(2026, 3, 29, 6, 0)),
        ("Europe/London", utc(2026, 3, 27, 8, 0), utc(2026, 3, 28, 7, 0)),
        # ...and back to GMT on 25 October 2026.
        ("Europe/London", utc(2026, 10, 24, 8, 0), utc(2026, 10, 25, 7, 0)),
        ("Europe/London", utc(2026, 10, 24, 5, 0), utc(2026, 10, 24, 6, 0)),
        # New York: EST -> EDT on 8 March 2026, EDT -> EST on 1 November 2026.
        ("America/New_York", utc(2026, 3, 7, 13, 0), utc(2026, 3, 8, 11, 0)),
        ("America/New_York", utc(2026, 3, 6, 13, 0), utc(2026, 3, 7, 12, 0)),
        ("America/New_York", utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 12, 0)),
        # Beirut (had DST): UTC+2 in winter, UTC+3 from the last Sunday of March.
        ("Asia/Beirut", utc(2024, 3, 30, 6, 0), utc(2024, 3, 31, 4, 0)),
        ("Asia/Beirut", utc(2024, 3, 29, 6, 0), utc(2024, 3, 30, 5, 0)),
    ],
)
def test_seven_oclock_stays_seven_oclock_local(
    tz: str, after: datetime, expected: datetime
) -> None:
    due = next_due(time(7, 0), tz, after)
    assert due == expected
    local = due.astimezone(zone(tz))
    assert (local.hour, local.minute) == (7, 0)


def test_spring_forward_gap_moves_slot_forward_by_the_gap() -> None:
    # 02:30 does not exist in New York on 8 March 2026 (02:00 -> 03:00).
    due = next_due(time(2, 30), "America/New_York", utc(2026, 3, 8, 0, 0))
    local = due.astimezone(zone("America/New_York"))
    assert (local.date(), local.hour, local.minute) == (date(2026, 3, 8), 3, 30)
    # ...and the next day is back at 02:30.
    nxt = next_due(time(2, 30), "America/New_York", due)
    assert nxt.astimezone(zone("America/New_York")).time() == time(2, 30)
    assert nxt - due == timedelta(hours=23)


def test_beirut_midnight_gap_keeps_the_same_local_date() -> None:
    # Beirut jumped from 00:00 to 01:00 on 31 March 2024.
    due = next_due(time(0, 30), "Asia/Beirut", utc(2024, 3, 30, 12, 0))
    assert slot_date(due, "Asia/Beirut") == date(2024, 3, 31)
    assert due.astimezone(zone("Asia/Beirut")).time() == time(1, 30)


def test_fall_back_overlap_delivers_once_at_first_occurrence() -> None:
    # 01:30 happens twice in London on 25 October 2026: at 00:30 UTC (BST) and 01:30 UTC.
    first = next_due(time(1, 30), "Europe/London", utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    second = next_due(time(1, 30), "Europe/London", first)
    assert second == utc(2026, 10, 26, 1, 30)  # not 01:30 UTC on the 25th


def test_local_date_across_zones() -> None:
    at = utc(2026, 1, 1, 22, 30)
    assert local_date(at, "Asia/Riyadh") == date(2026, 1, 2)
    assert local_date(at, "America/New_York") == date(2026, 1, 1)


def test_parse_hhmm_accepts_arabic_digits_and_rejects_garbage() -> None:
    assert parse_hhmm("7:05") == time(7, 5)
    assert parse_hhmm("٠٧:٣٠") == time(7, 30)
    for bad in ["24:00", "7", "07:60", "seven", "", "-1:00"]:
        with pytest.raises(ValueError):
            parse_hhmm(bad)


def test_unknown_zone_and_naive_datetime_are_errors() -> None:
    with pytest.raises(ValueError):
        next_due(time(7), "Mars/Olympus", utc(2026, 1, 1))
    with pytest.raises(ValueError):
        next_due(time(7), "UTC", datetime(2026, 1, 1))


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
)
times = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(hhmm=times, tz=st.sampled_from(ZONES), after=instants)
def test_next_due_properties(hhmm: time, tz: str, after: datetime) -> None:
    due = next_due(hhmm, tz, after)
    assert due > after
    assert due.tzinfo == UTC
    assert due - after <= timedelta(hours=49)
    local = due.astimezone(zone(tz))
    roundtrip = datetime.combine(local.date(), hhmm, tzinfo=zone(tz))
    exists = roundtrip.astimezone(UTC).astimezone(zone(tz)).replace(tzinfo=None) == (
        roundtrip.replace(tzinfo=None)
    )
    if exists:
        assert local.time() == hhmm  # local time equals hhmm except in gaps
    else:
        assert local.time() > hhmm  # in a gap: moved forward, same day
        assert local.date() == slot_date(due, tz)
    # one slot per local day: the next slot is on a later local date
    nxt = next_due(hhmm, tz, due)
    assert slot_date(nxt, tz) > slot_date(due, tz)
