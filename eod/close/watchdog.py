"""Step timeouts that do not depend on the step cooperating.

The step runs in a worker thread; the caller waits at most EOD_STEP_TIMEOUT_S. On
expiry every backend whose application_name marks it as this step's is cancelled
and then terminated (a blocked COPY or a long dbt model stops at once), and the
caller gets StepTimeout; the worker thread is left to die with its connections.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

from eod.db import session, set_application_name
from eod.errors import EodError

T = TypeVar("T")


class StepTimeout(EodError):
    """A step ran past EOD_STEP_TIMEOUT_S."""


def step_application_name(step: str) -> str:
    """The application_name of a step's connections. It leaves out the date: dbt hashes
    its profile, application_name included, to decide whether the parsed project can
    be reused, and a name that changed every day would re-parse it in every close. One
    leader closes one date at a time per database, so the step names the backends."""
    return f"eod-step {step}"


def cancel_step_queries(database_url: str, application_name: str) -> int:
    with (
        session(database_url, application_name="eod-watchdog", autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            """select count(pg_terminate_backend(pid)) from pg_stat_activity
               where application_name = %s and datname = current_database()
                 and pid <> pg_backend_pid()""",
            (application_name,),
        )
        return cur.fetchone()[0]


def run_with_timeout(
    fn: Callable[[], T], *, timeout_s: float, database_url: str, business_date, step: str
) -> T:
    name = step_application_name(step)
    box: dict[str, object] = {}
    # The worker runs in a copy of this context so Prefect (and dbt's per-node tasks)
    # still see the flow run it belongs to.
    context = contextvars.copy_context()

    def named() -> T:
        set_application_name(name)  # in the step's own context, not the caller's
        return fn()

    def target() -> None:
        try:
            box["value"] = context.run(named)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"step-{step}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        cancel_step_queries(database_url, name)
        raise StepTimeout(f"step {step} for {business_date} exceeded {timeout_s:g}s (timeout)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
