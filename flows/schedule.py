"""The daily `eod-close` deployment: shortly after the cutover, in the cutover's zone.

The schedule is a cron in the cutover's own time zone, so a `16:00 America/New_York`
cutover keeps following New York's clock across DST changes. A scheduled run closes
the business date that ended at the cutover just before its scheduled start.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from eod.business_date import Cutover

DELAY_MINUTES = 5  # after the cutover, so late engine writes of the old day have landed


def cron_after_cutover(cutover: Cutover, delay_minutes: int = DELAY_MINUTES) -> str:
    total = cutover.at.hour * 60 + cutover.at.minute + delay_minutes
    return f"{total % 60} {(total // 60) % 24} * * *"


def business_date_ended_before(cutover: Cutover, scheduled_start: datetime) -> date:
    """The business date whose window ended at or before a scheduled start."""
    return cutover.business_date_of(scheduled_start) - timedelta(days=1)


def deployment(cutover: Cutover):
    from prefect.schedules import Cron

    from flows.eod_close import eod_close

    return eod_close.to_deployment(
        name="eod-close-daily",
        schedule=Cron(cron_after_cutover(cutover), timezone=cutover.zone),
        description=f"Closes the business date that ended at the {cutover} cutover.",
        tags=["eod"],
    )
