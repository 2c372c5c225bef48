"""Business-date windows from the cutover (CONTRACT section 3).

Business date D ends at the first cutover instant after the local midnight that
starts D, in the cutover's zone, and starts at the cutover before that. The dbt
macro `business_date_window` implements the same rule in SQL; a test checks that
both agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eod.errors import ConfigError

_CUTOVER_RE = re.compile(r"^\s*(\d{2}):(\d{2})\s+(\S+)\s*$")


@dataclass(frozen=True)
class Cutover:
    """A daily cutover: local wall time in an IANA zone."""

    at: time
    zone: str

    @classmethod
    def parse(cls, text: str) -> Cutover:
        match = _CUTOVER_RE.match(text or "")
        if not match:
            raise ConfigError(f"EOD_CUTOVER must look like 'HH:MM <IANA zone>', got {text!r}")
        hour, minute, zone = int(match[1]), int(match[2]), match[3]
        if hour > 23 or minute > 59:
            raise ConfigError(f"EOD_CUTOVER has an impossible time: {text!r}")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"EOD_CUTOVER names an unknown time zone: {zone!r}") from None
        return cls(time(hour, minute), zone)

    def __str__(self) -> str:
        return f"{self.at:%H:%M} {self.zone}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def _instant_on(self, day: date) -> datetime:
        """The cutover instant on a local calendar day, as UTC.

        A wall time read as RFC 5545 reads it, which is zoneinfo's fold=0: one that a
        fall-back day repeats is its first occurrence, one that a spring-forward day
        skips is read with the offset in force before the jump. The SQL macro
        `cutover_instant` reads it the same way.
        """
        return datetime.combine(day, self.at, tzinfo=self.tz).astimezone(UTC)

    def window(self, business_date: date) -> tuple[datetime, datetime]:
        """[start, end) of a business date as UTC instants.

        The end is the first cutover at or after the local midnight that starts D;
        a cutover at 00:00 therefore ends D at D+1 00:00, any later cutover ends D
        the same calendar day.
        """
        end_day = business_date + timedelta(days=1) if self.at == time(0, 0) else business_date
        return self._instant_on(end_day - timedelta(days=1)), self._instant_on(end_day)

    def business_date_of(self, instant: datetime) -> date:
        """The business date whose window holds an instant (a cutover starts its day)."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        local = instant.astimezone(self.tz)
        guess = local.date() if self.at == time(0, 0) else local.date() + timedelta(days=1)
        for candidate in (guess - timedelta(days=1), guess, guess + timedelta(days=1)):
            start, end = self.window(candidate)
            if start <= instant < end:
                return candidate
        raise AssertionError(f"no business date holds {instant}")  # pragma: no cover


def parse_date(text: str, what: str = "date") -> date:
    """A YYYY-MM-DD argument, or a one-line InputError."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be YYYY-MM-DD, got {text!r}") from None
