"""The daily `eod-close` deployment: shortly after the cutover, in the cutover's zone.

The schedule is a cron in the cutover's own time zone, so a `16:00 America/New_York`
cutover keeps following New York's clock across DST changes. A scheduled run closes
the business date that ended at the cutover just before its scheduled start (see
eod.close.calendar).
"""

from __future__ import annotations

from eod.business_date import Cutover
from flows.eod_close import eod_close

DELAY_MINUTES = 5  # after the cutover, so late engine writes of the old day have landed


def cron_after_cutover(cutover: Cutover, delay_minutes: int = DELAY_MINUTES) -> str:
    total = cutover.at.hour * 60 + cutover.at.minute + delay_minutes
    return f"{total % 60} {(total // 60) % 24} * * *"


def deployment(cutover: Cutover):
    from prefect.schedules import Cron

    return eod_close.to_deployment(
        name="eod-close-daily",
        schedule=Cron(cron_after_cutover(cutover), timezone=cutover.zone),
        description=f"Closes the business date that ended at the {cutover} cutover.",
        tags=["eod"],
    )
