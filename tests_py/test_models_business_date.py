"""The dbt business-date macros agree with eod.business_date (its Python twin).

The macros are compiled by dbt (`compile --inline`) into SQL once per cutover; the SQL
then runs on Postgres for several dates, DST change days included.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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


# Cutovers whose wall time a DST change repeats or skips, in zones that change at
# different hours and by different amounts (Lord Howe by 30 minutes, Santiago at
# midnight), with the plain ones beside them.
DST_CUTOVERS = [
    "00:00 UTC",
    "16:00 America/New_York",
    "01:30 America/New_York",  # repeated on 1 Nov 2026
    "02:30 America/New_York",  # skipped on 8 Mar 2026
    "01:30 Europe/London",  # skipped on 29 Mar, repeated on 25 Oct 2026
    "01:45 Australia/Lord_Howe",  # repeated on 5 Apr 2026 (02:00 -> 01:30)
    "02:15 Australia/Lord_Howe",  # skipped on 4 Oct 2026 (02:00 -> 02:30)
    "00:00 America/Santiago",  # midnight skipped on 6 Sep 2026; 4 Apr 25 hours
    "23:30 America/Santiago",  # repeated on 4 Apr 2026
]
YEAR = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
STEP = timedelta(minutes=15)  # every offset and cutover here is a multiple of it


def reference_cutover_instant(day: date, cutover: str) -> datetime:
    """The cutover on a local day, found by scanning UTC instants (RFC 5545's reading):
    the first instant whose local reading is the cutover's wall time; when none reads
    it (a skipped hour), the wall time read with the offset in force before the jump."""
    at, zone = cutover.split()
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, time.fromisoformat(at))
    instant = wall.replace(tzinfo=UTC) - timedelta(hours=16)
    while instant <= wall.replace(tzinfo=UTC) + timedelta(hours=16):
        local = instant.astimezone(tz).replace(tzinfo=None)
        if local == wall:
            return instant
        if local > wall:  # jumped over it: the offset just before the jump
            before = (instant - timedelta(minutes=1)).astimezone(tz).utcoffset()
            return (wall - before).replace(tzinfo=UTC)
        instant += STEP
    raise AssertionError(f"no instant for {cutover} on {day}")


@functools.cache
def reference_window(day: date, cutover: str) -> tuple[datetime, datetime]:
    end_day = day + timedelta(days=1) if cutover.startswith("00:00 ") else day
    return (
        reference_cutover_instant(end_day - timedelta(days=1), cutover),
        reference_cutover_instant(end_day, cutover),
    )


def dst_days(zone: str) -> list[date]:
    tz = ZoneInfo(zone)
    return [
        d
        for d in YEAR
        if datetime.combine(d, time(0), tz).utcoffset()
        != datetime.combine(d + timedelta(days=1), time(0), tz).utcoffset()
    ]


def test_python_and_sql_windows_agree_on_dst_days(db_url, tmp_path):
    """Every business date of 2026 for each cutover: the SQL macros, eod.business_date
    and the scan above give the same window; around each DST change, every instant
    (every 15 minutes, and each edge) gets the same business date from all three."""
    windows_sql = " union all ".join(
        "{% set w = business_date_window('d', '" + c + "') %}"
        f"select '{c}', d, {{{{ w.start }}}}, {{{{ w['end'] }}}}"
        " from unnest(%(days)s::date[]) as d"
        for c in DST_CUTOVERS
    )
    dates_sql = (
        "select t, "
        + ", ".join("{{ business_date_of('t', '" + c + "') }}" for c in DST_CUTOVERS)
        + " from unnest(%(instants)s::timestamptz[]) as t order by t"
    )
    windows_sql = compile_inline(windows_sql, db_url, tmp_path / "w")
    dates_sql = compile_inline(dates_sql, db_url, tmp_path / "d")

    expected = {(c, d): reference_window(d, c) for c in DST_CUTOVERS for d in YEAR}
    # the cases this test is about are in the reference (not only plain days)
    ny_fold = expected[("01:30 America/New_York", date(2026, 11, 1))]
    assert ny_fold == (
        datetime(2026, 10, 31, 5, 30, tzinfo=UTC),  # 01:30 EDT
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # the first 01:30 (EDT), not the EST one
    )
    ny_gap = expected[("02:30 America/New_York", date(2026, 3, 8))]
    assert ny_gap == (
        datetime(2026, 3, 7, 7, 30, tzinfo=UTC),  # 02:30 EST
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),  # 02:30 read in EST: 03:30 EDT
    )
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(windows_sql, {"days": YEAR})
            sql_windows = {(c, d): (s, e) for c, d, s, e in cur.fetchall()}
            assert sql_windows == expected
            for (c, d), window in expected.items():
                assert Cutover.parse(c).window(d) == window, (c, d)

            around = sorted(
                {d for c in DST_CUTOVERS for d in dst_days(c.split()[1])} | {date(2026, 6, 15)}
            )
            instants = set()
            for d in around:
                first = datetime.combine(d - timedelta(days=1), time(0), UTC)
                instants |= {first + STEP * n for n in range(4 * 24 * 3)}
                for c in DST_CUTOVERS:
                    for edge in expected[(c, d)]:
                        instants |= {edge, edge - timedelta(microseconds=1)}
            cur.execute(dates_sql, {"instants": sorted(instants)})
            rows = cur.fetchall()
    finally:
        conn.close()
    assert len(rows) == len(instants)
    for instant, *sql_dates in rows:
        for c, sql_date in zip(DST_CUTOVERS, sql_dates, strict=True):
            local = instant.astimezone(ZoneInfo(c.split()[1])).date()
            [holder] = [
                d
                for d in (local - timedelta(days=1), local, local + timedelta(days=1))
                if reference_window(d, c)[0] <= instant < reference_window(d, c)[1]
            ]
            assert sql_date == holder == Cutover.parse(c).business_date_of(instant), (c, instant)
