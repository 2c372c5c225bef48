"""`eod close` refuses, in one line, to start without what a real close needs, a date
that has not ended, or malformed arguments."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests_py.conftest import run_eod

REAL = {
    "EOD_ME_URL": "http://127.0.0.1:9",
    "EOD_CUSTODY_URL": "http://127.0.0.1:9",
    "EOD_CUSTODY_TOKEN": "t",
    "EOD_STAKING_RPC_URL": "http://127.0.0.1:9",
    "EOD_STAKING_POOL_ADDRESS": "0x1",
    "EOD_POR_SECRET": "s",
}


def test_close_refuses_without_its_external_systems(eod_env):
    env = {k: v for k, v in eod_env.items() if k not in REAL}
    proc = run_eod(["close", "--date", "2026-11-02"], env, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "eod close: eod close needs EOD_ME_URL, EOD_CUSTODY_URL, EOD_CUSTODY_TOKEN, "
        "EOD_STAKING_RPC_URL, EOD_STAKING_POOL_ADDRESS, EOD_POR_SECRET (see README, Configuration)"
    ]


def test_close_refuses_a_malformed_date_and_records_nothing(eod_env):
    proc = run_eod(["close", "--date", "02/11/2026"], {**eod_env, **REAL}, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "eod close: --date must be YYYY-MM-DD, got '02/11/2026'"
    ]
    status = run_eod(["status"], eod_env)
    assert status.stdout.strip() == "no close recorded"


def test_backfill_refuses_an_inverted_range(eod_env):
    proc = run_eod(
        ["backfill", "--start", "2026-11-05", "--end", "2026-11-01"],
        {**eod_env, **REAL},
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip() == "eod backfill: --end 2026-11-01 is before --start 2026-11-05"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["close"], "eod close: the following arguments are required: --date"),
        (["close", "--date"], "eod close: argument --date: expected one argument"),
        (
            ["backfill", "--start", "2026-11-01"],
            "eod backfill: the following arguments are required: --end",
        ),
        (["close", "--date", "2026-11-02", "--dry"], "eod: unrecognized arguments: --dry"),
        (
            ["close", "--date", "2026-02-30"],
            "eod close: --date must be YYYY-MM-DD, got '2026-02-30'",
        ),
    ],
)
def test_argument_errors_are_one_line(eod_env, args, line):
    proc = run_eod(args, {**eod_env, **REAL}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [line]


@pytest.mark.parametrize("cutover", ["00:00 UTC", "16:00 America/New_York"])
def test_close_refuses_a_date_whose_window_has_not_ended(eod_env, cutover):
    at, zone = cutover.split()
    tz = ZoneInfo(zone)
    # tomorrow in the cutover's zone has not ended, whatever the time now
    day = datetime.now(tz).date() + timedelta(days=1)
    end_day = day + timedelta(days=1) if at == "00:00" else day
    end = datetime.combine(end_day, time.fromisoformat(at), tz).astimezone(UTC)
    env = {**eod_env, **REAL, "EOD_CUTOVER": cutover}
    expected = (
        f"business date {day} has not ended yet: it ends at {end:%Y-%m-%d %H:%M} UTC"
        f" (cutover {cutover})"
    )
    proc = run_eod(["close", "--date", day.isoformat()], env, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"eod close: {expected}"]
    proc = run_eod(
        ["backfill", "--start", (day - timedelta(days=3)).isoformat(), "--end", day.isoformat()],
        env,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"eod backfill: {expected}"]
    assert run_eod(["status"], eod_env).stdout.strip() == "no close recorded"
