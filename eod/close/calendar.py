"""Which business dates a close covers (catch-up, CONTRACT section 8).

The first date ever closed starts the chain. Closing D first closes every earlier
unclosed date from the chain's start, in order; catch-up never reaches before it. A
scheduled run (no date given) closes the business date that ended at the cutover
just before its scheduled start, never one read off the wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from eod.business_date import Cutover
from eod.db import transaction
from eod.errors import InputError

CLOSE_MARKER = "close"  # the eod_runs step recorded when a date's close is complete


def first_closed_date(database_url: str) -> date | None:
    """The chain's first date: the earliest date any close ever ran for."""
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute("select min(business_date) from eod.eod_runs")
        return cur.fetchone()[0]


def dates_to_close(database_url: str, business_date: date) -> list[date]:
    """D and every earlier unclosed date of the chain, oldest first."""
    first = first_closed_date(database_url)
    if first is None:
        return [business_date]
    if business_date < first:
        raise InputError(
            f"{business_date} is before the first closed date {first}; the chain starts there"
        )
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """select business_date from eod.eod_runs
               where step_name = %s and status = 'succeeded'
                 and business_date between %s and %s""",
            (CLOSE_MARKER, first, business_date),
        )
        closed = {row[0] for row in cur.fetchall()}
    days = (business_date - first).days
    return [d for d in (first + timedelta(n) for n in range(days + 1)) if d not in closed]


def business_date_ended_before(cutover: Cutover, scheduled_start: datetime) -> date:
    """The business date whose window ended at or before a scheduled start."""
    return cutover.business_date_of(scheduled_start) - timedelta(days=1)


def require_ended(cutover: Cutover, business_date: date, now: datetime | None = None) -> None:
    """Refuse (InputError) a date whose window has not ended yet: its captures would be
    read before the engine, custody and the chain reached the end of the date. The
    wall clock only guards here; which date to close comes from the caller."""
    end = cutover.window(business_date)[1]
    now = now or datetime.now(UTC)
    if now < end:
        ends = end.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise InputError(
            f"business date {business_date} has not ended yet: it ends at {ends}"
            f" (cutover {cutover})"
        )
