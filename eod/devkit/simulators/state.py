"""What the three simulators share: the generation they serve and the custody as-of.

BitGo has no as-of parameter. The simulated custody answers as of the instant of the
last registry snapshot the engine simulator served, which stands in for a custody
snapshot taken at the cutover; before any snapshot was served, as of the end of the
last generated business date. The simulated chain keeps its history by block and
answers at any block (eod.devkit.simulators.rpc).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from eod.business_date import Cutover
from eod.db import connect

# Faults the engine simulator injects: in a row (malformed, negative, duplicate,
# unknown-currency, unknown-user, long-line), in the header (empty, sequence-back), or
# on the wire (drop, truncated, stall).
ME_ROW_FAULTS = (
    "malformed",
    "negative",
    "duplicate",
    "unknown-currency",
    "unknown-user",
    "long-line",
)
ME_FAULTS = (*ME_ROW_FAULTS, "empty", "sequence-back", "drop", "truncated", "stall")
# Adjustments that reach users after the engine's registry was generated: the close
# posts them and the engine consumes the events that announce them.
ENGINE_CREDITED = ("staking_payout", "admin_adjustment")


class NotGenerated(LookupError):
    """Nothing generated (yet) for what was asked."""


@dataclass(frozen=True)
class Generation:
    cutover: Cutover
    start_date: date
    last_date: date


@dataclass
class SimState:
    database_url: str
    me_fault: str | None = None
    custody_fail: bool = False
    custody_fault: str | None = None  # one of faults.REPLY_FAULTS
    rpc_fault: str | None = None  # one of faults.REPLY_FAULTS
    _last_served: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self):
        return connect(self.database_url, application_name="eod-simulator")

    def generation(self, conn) -> Generation:
        with conn.cursor() as cur:
            cur.execute("select cutover, start_date, last_date from sim.generation")
            row = cur.fetchone()
        if row is None:
            raise NotGenerated("no synthetic exchange was generated (run eod generate)")
        return Generation(Cutover.parse(row[0]), row[1], row[2])

    def snapshot_served(self, as_of: datetime) -> None:
        with self._lock:
            self._last_served = as_of

    def last_served(self) -> datetime | None:
        """The as-of of the last registry snapshot served, if any."""
        with self._lock:
            return self._last_served

    def reference_instant(self, conn) -> tuple[date, datetime]:
        """The business date and instant custody and the chain answer as of."""
        gen = self.generation(conn)
        with self._lock:
            instant = self._last_served
        if instant is None:
            instant = gen.cutover.window(gen.last_date)[1]
        business_date = gen.cutover.business_date_of(instant - timedelta(microseconds=1))
        return business_date, instant
