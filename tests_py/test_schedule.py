"""The daily deployment fires shortly after the cutover, in the cutover's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from eod.business_date import Cutover
from eod.close.calendar import business_date_ended_before
from flows.deployment import cron_after_cutover


@pytest.mark.parametrize(
    ("cutover", "cron"),
    [
        ("00:00 UTC", "5 0 * * *"),
        ("16:00 America/New_York", "5 16 * * *"),
        ("08:00 UTC", "5 8 * * *"),
        ("23:58 UTC", "3 0 * * *"),
    ],
)
def test_cron_is_five_minutes_after_the_cutover(cutover, cron):
    assert cron_after_cutover(Cutover.parse(cutover)) == cron


@pytest.mark.parametrize(
    ("cutover", "scheduled_utc", "expected"),
    [
        # 00:05 UTC on the 3rd closes the 2nd
        ("00:00 UTC", datetime(2026, 11, 3, 0, 5, tzinfo=UTC), date(2026, 11, 2)),
        # New York summer time: 16:05 EDT = 20:05 UTC
        ("16:00 America/New_York", datetime(2026, 6, 1, 20, 5, tzinfo=UTC), date(2026, 6, 1)),
        # after the fall-back change, 16:05 EST = 21:05 UTC; 1 Nov 2026 was a 25-hour day
        ("16:00 America/New_York", datetime(2026, 11, 1, 21, 5, tzinfo=UTC), date(2026, 11, 1)),
        # the spring-forward day (8 Mar 2026) ends at 16:00 EDT = 20:00 UTC
        ("16:00 America/New_York", datetime(2026, 3, 8, 20, 5, tzinfo=UTC), date(2026, 3, 8)),
        ("08:00 UTC", datetime(2026, 11, 3, 8, 5, tzinfo=UTC), date(2026, 11, 3)),
    ],
)
def test_scheduled_run_closes_the_day_that_just_ended(cutover, scheduled_utc, expected):
    assert business_date_ended_before(Cutover.parse(cutover), scheduled_utc) == expected
