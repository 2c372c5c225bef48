"""The one way into the close: run a date, backfill a range, read the outcome.

`eod close`, `eod backfill`, `eod status`, the AdminService's RunEOD and GetEODStatus,
the demo and the benches all come through here, so each gets the same guarantees: a
real close refuses to start without real external systems (CONTRACT section 2), dbt
parses the project while Prefect starts, and the outcome is reported per date,
catch-up included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from eod.close import dbt_build
from eod.close.calendar import dates_to_close, first_closed_date, require_ended
from eod.close.leader import Deposed
from eod.close.status import DateStatus, close_status
from eod.context import Context
from eod.errors import EodError, InputError
from flows.eod_close import eod_close

__all__ = ["CloseReport", "backfill", "close_status", "run_close"]


@dataclass
class CloseReport:
    """What one or more runs of the flow did: each date's outcome and the failure
    that stopped a run, if any."""

    dates: list[DateStatus] = field(default_factory=list)
    failure: str | None = None
    # set when this close lost its leadership: the new leader owns the dates, so the
    # report is that one line, not the dates' records the new leader is writing
    deposed: str | None = None

    @property
    def exit_code(self) -> int:
        """0 only when every date closed with no check broken; 2 when a run failed."""
        if self.failure or self.deposed:
            return 2
        return 0 if self.dates and all(d.ok for d in self.dates) else 1

    def lines(self) -> list[str]:
        return [] if self.deposed else [d.outcome() for d in self.dates]

    def merge(self, other: CloseReport) -> CloseReport:
        seen = {d.business_date: d for d in self.dates}
        seen.update({d.business_date: d for d in other.dates})
        return CloseReport(
            sorted(seen.values(), key=lambda d: d.business_date),
            self.failure or other.failure,
            self.deposed or other.deposed,
        )


def run_close(business_date: date, ctx: Context | None = None) -> CloseReport:
    """Close D, and every earlier unclosed date of the chain first.

    Refuses (ConfigError) to start without the real external systems and the PoR key.
    A failed step stops the run; the report carries the reason and every date's
    outcome, the dates it never reached included.
    """
    ctx = ctx or Context()
    require_ended(ctx.settings.cutover, business_date)
    ctx.settings.require_real_close()
    database_url = ctx.database_url
    planned = _planned_dates(database_url, business_date)
    # dbt parses the project while Prefect starts its API server for the flow
    parsing = dbt_build.prepare(database_url)
    failure = None
    try:
        eod_close(business_date=business_date.isoformat())
    except Deposed as exc:
        return CloseReport(deposed=str(exc))
    except EodError as exc:
        failure = str(exc)
    finally:
        parsing.join()
    return CloseReport(close_status(database_url, planned), failure)


def backfill(start: date, end: date, ctx: Context | None = None) -> CloseReport:
    """Close every date from start to end (the chain's catch-up fills the middle)."""
    if end < start:
        raise InputError(f"--end {end} is before --start {start}")
    ctx = ctx or Context()
    require_ended(ctx.settings.cutover, end)
    ctx.settings.require_real_close()
    first = first_closed_date(ctx.database_url)
    report = CloseReport()
    if first is None or start < first:
        report = run_close(start, ctx)  # starts the chain (or refuses if before it)
        if report.failure or report.deposed:
            return report
    return report.merge(run_close(end, ctx))


def _planned_dates(database_url: str, business_date: date) -> list[date]:
    """The dates a close of D will report on: those it will close, and D itself
    (already closed, a re-run reports its outcome again)."""
    return sorted(set(dates_to_close(database_url, business_date)) | {business_date})
