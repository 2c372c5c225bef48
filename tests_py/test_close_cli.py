"""`eod close` refuses, in one line, to start without what a real close needs."""

from __future__ import annotations

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
