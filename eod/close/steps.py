"""The step ledger `eod.eod_runs` (CONTRACT section 8).

A succeeded step is never run again for its date; a failed one re-runs. Steps that
write run their writes and their `succeeded` record in one transaction, under the
fencing check, so a close killed between the two leaves nothing half-recorded; steps
that write outside Postgres' reach (dbt) are idempotent by construction instead.
Every state change emits `eod.<step>.started|completed|failed` through the outbox in
the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg2.extras import Json

from eod.close.leader import check_fence
from eod.db import transaction
from eod.outbox import enqueue


@dataclass
class StepLedger:
    database_url: str
    business_date: date
    fencing_token: int

    def _event(self, cur, step: str, what: str, extra: dict[str, Any] | None = None) -> None:
        payload = {"business_date": self.business_date.isoformat(), "step": step}
        payload.update(extra or {})
        enqueue(cur, f"eod.{step}.{what}", payload)

    def status(self, step: str) -> str | None:
        with transaction(self.database_url) as conn, conn.cursor() as cur:
            cur.execute(
                "select status from eod.eod_runs where business_date = %s and step_name = %s",
                (self.business_date, step),
            )
            row = cur.fetchone()
        return row[0] if row else None

    def start(self, step: str) -> bool:
        """Record an attempt; False when the step already succeeded for this date."""
        with self.transaction() as cur:
            cur.execute(
                """insert into eod.eod_runs
                       (business_date, step_name, status, attempts, started_at, fencing_token)
                   values (%s, %s, 'running', 1, clock_timestamp(), %s)
                   on conflict (business_date, step_name) do update
                   set status = 'running', attempts = eod.eod_runs.attempts + 1,
                       started_at = clock_timestamp(), finished_at = null,
                       fencing_token = excluded.fencing_token
                   where eod.eod_runs.status <> 'succeeded'
                   returning attempts""",
                (self.business_date, step, self.fencing_token),
            )
            row = cur.fetchone()
            if row is None:
                return False
            self._event(cur, step, "started", {"attempt": row[0]})
        return True

    def succeed(self, cur, step: str, detail: dict[str, Any]) -> None:
        """Inside the step's own transaction: mark it succeeded (fenced)."""
        check_fence(cur, self.fencing_token)
        cur.execute(
            """update eod.eod_runs
               set status = 'succeeded', finished_at = clock_timestamp(), detail = %s
               where business_date = %s and step_name = %s""",
            (Json(detail, dumps=_dumps), self.business_date, step),
        )
        self._event(cur, step, "completed", {"detail": json.loads(_dumps(detail))})

    def fail(self, step: str, reason: str, detail: dict[str, Any] | None = None) -> None:
        detail = {"reason": reason, **(detail or {})}
        with self.transaction() as cur:
            cur.execute(
                """update eod.eod_runs
                   set status = 'failed', finished_at = clock_timestamp(), detail = %s
                   where business_date = %s and step_name = %s""",
                (Json(detail, dumps=_dumps), self.business_date, step),
            )
            self._event(cur, step, "failed", {"reason": reason})

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in a transaction of this leader's: the fencing token is checked
        first, so a deposed leader's writes never commit."""
        with transaction(self.database_url) as conn, conn.cursor() as cur:
            check_fence(cur, self.fencing_token)
            yield cur

    def run(
        self,
        step: str,
        work: Callable[..., dict[str, Any] | None],
        *,
        atomic: bool = True,
        announce: Callable[[Any, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """Run a step once for this date; the one way a step runs and is recorded.

        atomic: `work(cursor)` writes in the transaction that records the step, so
        its writes and `succeeded` commit together or not at all (postings, freezes).
        Otherwise `work()` commits on its own and is idempotent per date (captures,
        dbt, the proof of reserves); success, and `announce(cursor, detail)`, are
        recorded after it. Returns the step's detail, or None when it had already
        succeeded. A failure propagates; the caller records it (`fail`).
        """
        if not self.start(step):
            return None
        if atomic:
            with self.transaction() as cur:
                detail = work(cur) or {}
                self.succeed(cur, step, detail)
            return detail
        detail = work() or {}
        with self.transaction() as cur:
            if announce:
                announce(cur, detail)
            self.succeed(cur, step, detail)
        return detail


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)
