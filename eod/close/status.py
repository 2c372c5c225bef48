"""What the step ledger says about closes: per date, its steps and its outcome.

The one query over `eod.eod_runs` that `eod status`, the outcome `eod close` prints
and the AdminService's GetEODStatus all read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eod.close.calendar import CLOSE_MARKER
from eod.db import fetch_all

RECENT_DATES = 10  # dates shown when none is asked for


@dataclass(frozen=True)
class StepRecord:
    step_name: str
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    seconds: Decimal | None
    detail: dict[str, Any]

    @property
    def reason(self) -> str | None:
        return self.detail.get("reason") if self.status == "failed" else None


@dataclass(frozen=True)
class DateStatus:
    business_date: date
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return any(s.step_name == CLOSE_MARKER and s.status == "succeeded" for s in self.steps)

    @property
    def broken_checks(self) -> list[str]:
        for s in self.steps:
            if s.step_name == CLOSE_MARKER and s.status == "succeeded":
                return list(s.detail.get("broken_checks", []))
        return []

    @property
    def suspect_checks(self) -> list[str]:
        """Broken checks the circuit breaker marked suspect (nobody frozen for them)."""
        for s in self.steps:
            if s.step_name == CLOSE_MARKER and s.status == "succeeded":
                return list(s.detail.get("suspect_checks", []))
        return []

    @property
    def failed(self) -> StepRecord | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def ok(self) -> bool:
        """Closed, and no check broke."""
        return self.closed and not self.broken_checks

    def outcome(self) -> str:
        """One line: how this date's close ended."""
        if self.closed:
            if self.broken_checks:
                suspect = set(self.suspect_checks)
                named = ", ".join(
                    f"{c} (suspect: over EOD_MAX_FREEZES, nobody frozen)" if c in suspect else c
                    for c in self.broken_checks
                )
                return f"{self.business_date}  closed, checks broke: {named}"
            return f"{self.business_date}  closed, all checks passed"
        if self.failed:
            return f"{self.business_date}  failed at {self.failed.step_name}: {self.failed.reason}"
        if self.steps:
            return f"{self.business_date}  not closed (stopped before {CLOSE_MARKER})"
        return f"{self.business_date}  not run"


def close_status(database_url: str, business_dates: list[date] | None = None) -> list[DateStatus]:
    """The steps of the given dates (or of the last RECENT_DATES dates run), oldest first."""
    rows = fetch_all(
        database_url,
        """select business_date, step_name, status, attempts, started_at, finished_at,
                  round(extract(epoch from finished_at - started_at)::numeric, 2),
                  detail
           from eod.eod_runs
           where business_date = any(coalesce(%(dates)s::date[], array(
                     select distinct business_date from eod.eod_runs
                     order by business_date desc limit %(recent)s)))
           order by business_date, started_at nulls last, step_name""",
        {"dates": business_dates, "recent": RECENT_DATES},
    )
    by_date: dict[date, list[StepRecord]] = {d: [] for d in business_dates or []}
    for day, *step in rows:
        step[-1] = step[-1] or {}
        by_date.setdefault(day, []).append(StepRecord(*step))
    return [DateStatus(day, steps) for day, steps in sorted(by_date.items())]


def undelivered(database_url: str) -> list[str]:
    """One line per kind of message the close wrote that has not left yet: pages the
    pager has not accepted and events NATS has not acknowledged (the next close or
    `eod serve` delivers them)."""
    from eod.paging.outbox import undelivered_pages

    ((events, oldest),) = fetch_all(
        database_url,
        "select count(*), min(created_at) from eod.outbox where published_at is null",
    )
    lines = []
    if events:
        lines.append(
            f"outbox: {events} event(s) not yet published to NATS,"
            f" oldest {oldest:%Y-%m-%d %H:%M:%S%z}"
        )
    return undelivered_pages(database_url) + lines
