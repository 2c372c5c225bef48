"""A step over its time limit is stopped from outside, its SQL cancelled."""

from __future__ import annotations

import time

import psycopg2
import pytest

from eod.close.watchdog import StepTimeout, run_with_timeout, step_application_name
from eod.db import connect


def _sleeping_step(db_url):
    def work():
        conn = connect(db_url)
        with conn.cursor() as cur:
            cur.execute("select pg_sleep(60)")
        return {"never": "reached"}

    return work


def test_blocking_step_times_out_and_its_query_is_cancelled(db_url):
    started = time.monotonic()
    with pytest.raises(StepTimeout, match="timeout"):
        run_with_timeout(
            _sleeping_step(db_url),
            timeout_s=1.0,
            database_url=db_url,
            business_date="2026-11-02",
            step="capture_registry",
        )
    assert time.monotonic() - started < 20
    name = step_application_name("capture_registry")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_stat_activity where application_name = %s", (name,)
            )
            if cur.fetchone()[0] == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the timed-out step's query is still running")


def test_step_within_its_limit_returns_its_value(db_url):
    assert (
        run_with_timeout(
            lambda: 42, timeout_s=5, database_url=db_url, business_date="2026-11-02", step="x"
        )
        == 42
    )


def test_step_error_reaches_the_caller(db_url):
    def boom():
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        run_with_timeout(boom, timeout_s=5, database_url=db_url, business_date="d", step="x")
