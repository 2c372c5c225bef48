"""The dbt business-date macros agree with eod.business_date (its Python twin).

The macros are compiled by dbt (`compile --inline`) into SQL once per cutover; the SQL
then runs on Postgres for several dates, DST change days included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest

from eod.business_date import Cutover
from eod.config import PROJECT_DIR
from eod.dbt import prepare_env

CUTOVERS = ["00:00 UTC", "16:00 America/New_York", "08:00 UTC", "09:30 Europe/London"]
DATES = [
    date(2026, 1, 15),
    date(2026, 3, 7),
    date(2026, 3, 8),  # New York springs forward
    date(2026, 3, 9),
    date(2026, 3, 29),  # London springs forward
    date(2026, 10, 25),  # London falls back
    date(2026, 11, 1),  # New York falls back
    date(2026, 11, 2),
]


def compile_inline(sql: str, database_url: str, target) -> str:
    """The SQL dbt compiles a Jinja snippet of this project into."""
    import os

    from dbt.cli.main import dbtRunner

    os.environ.update(prepare_env(database_url))
    cwd = os.getcwd()
    os.chdir(PROJECT_DIR)
    try:
        result = dbtRunner().invoke(
            ["compile", "--inline", sql, "--target-path", str(target), "--quiet"]
        )
    finally:
        os.chdir(cwd)
    assert result.success, result.exception
    return result.result.results[0].node.compiled_code


@pytest.mark.parametrize("cutover", CUTOVERS)
def test_windows_and_business_date_of_match_python(cutover, db_url, tmp_path):
    snippet = (
        "{% set w = business_date_window('%(d)s::date', '" + cutover + "') %}"
        "select {{ w.start }} as window_start, {{ w['end'] }} as window_end, "
        "{{ business_date_of('%(t)s::timestamptz', '" + cutover + "') }} as business_date"
    )
    sql = compile_inline(snippet, db_url, tmp_path)
    py = Cutover.parse(cutover)
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            for day in DATES:
                start, end = py.window(day)
                # instants at the edges and inside the window all belong to `day`
                for instant in (start, end - timedelta(microseconds=1), start + (end - start) / 2):
                    cur.execute(sql, {"d": day, "t": instant})
                    got_start, got_end, got_date = cur.fetchone()
                    assert (got_start, got_end) == (start, end), (cutover, day)
                    assert got_date == day == py.business_date_of(instant), (cutover, instant)
    finally:
        conn.close()


def test_new_york_dst_days_are_23_and_25_hours():
    cutover = Cutover.parse("16:00 America/New_York")
    start, end = cutover.window(date(2026, 3, 8))
    assert (start, end) == (
        datetime(2026, 3, 7, 21, tzinfo=UTC),
        datetime(2026, 3, 8, 20, tzinfo=UTC),
    )
    start, end = cutover.window(date(2026, 11, 1))
    assert end - start == timedelta(hours=25)
