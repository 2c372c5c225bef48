"""Business-date windows (CONTRACT section 3), checked against hand-written instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from eod.business_date import Cutover
from eod.errors import ConfigError


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cutover", "day", "start", "end"),
    [
        ("00:00 UTC", date(2026, 11, 2), utc(2026, 11, 2), utc(2026, 11, 3)),
        ("08:00 UTC", date(2026, 11, 2), utc(2026, 11, 1, 8), utc(2026, 11, 2, 8)),
        # EDT (UTC-4)
        ("16:00 America/New_York", date(2026, 6, 1), utc(2026, 5, 31, 20), utc(2026, 6, 1, 20)),
        # spring forward on 8 Mar 2026: 23 hours, from 16:00 EST to 16:00 EDT
        ("16:00 America/New_York", date(2026, 3, 8), utc(2026, 3, 7, 21), utc(2026, 3, 8, 20)),
        # fall back on 1 Nov 2026: 25 hours, from 16:00 EDT to 16:00 EST
        ("16:00 America/New_York", date(2026, 11, 1), utc(2026, 10, 31, 20), utc(2026, 11, 1, 21)),
    ],
)
def test_windows(cutover, day, start, end):
    assert Cutover.parse(cutover).window(day) == (start, end)


def test_dst_day_lengths():
    ny = Cutover.parse("16:00 America/New_York")
    lengths = {d: ny.window(d)[1] - ny.window(d)[0] for d in (date(2026, 3, 8), date(2026, 11, 1))}
    assert lengths == {
        date(2026, 3, 8): timedelta(hours=23),
        date(2026, 11, 1): timedelta(hours=25),
    }


@pytest.mark.parametrize("cutover", ["00:00 UTC", "08:00 UTC", "16:00 America/New_York"])
def test_an_instant_at_a_cutover_belongs_to_the_day_it_starts(cutover):
    c = Cutover.parse(cutover)
    for day in (date(2026, 3, 8), date(2026, 11, 1), date(2026, 11, 2)):
        start, end = c.window(day)
        assert c.business_date_of(start) == day
        assert c.business_date_of(end) == day + timedelta(days=1)
        assert c.business_date_of(end - timedelta(microseconds=1)) == day


@pytest.mark.parametrize("bad", ["", "25:00 UTC", "00:00", "00:00 Mars/Olympus", "midnight UTC"])
def test_bad_cutover_is_one_clear_error(bad):
    with pytest.raises(ConfigError, match="EOD_CUTOVER"):
        Cutover.parse(bad)
