"""`dbt build` on a generated exchange (eod generate), day after day as the close runs it.

The captures are copied straight from the simulators' tables (the capture step is
tested elsewhere); the fee journals are posted between days with the close's own
posting code, so each day's ledger carries the previous days' fee journals.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg2

from eod.business_date import Cutover
from eod.close import postings
from eod.commands.bench import copy_simulated_captures
from eod.devkit.generate import Options, generate
from tests_py.test_models import build, checksums, rows

START = date(2026, 2, 1)


def generated(url: str, **faults) -> list[date]:
    opts = Options(
        seed=7,
        users=150,
        days=3,
        trades_per_day=400,
        start=START,
        cutover=Cutover.parse("00:00 UTC"),
        registry_days=3,
        **faults,
    )
    generate(url, opts)
    conn = psycopg2.connect(url)
    with conn:
        copy_simulated_captures(conn)
        with conn.cursor() as cur:
            cur.execute("insert into eod.por_key values (1, %s, %s)", (b"\x36" * 64, b"\x5c" * 64))
    conn.close()
    return opts.dates


def post(url: str, day: date) -> None:
    """D's fee journal, as the close posts it after D's build. (Payouts are left out: the
    copied registry is the simulator's, which credits them only through the engine.)"""
    from datetime import UTC, datetime, time

    posted_at = datetime.combine(day + timedelta(days=1), time(0, 5), tzinfo=UTC)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        postings.post_journal(cur, postings.FEE_JOURNAL, day, day, posted_at)
    conn.close()


def test_clean_days_build_and_rebuild_identically(db_url, tmp_path):
    days = generated(db_url)
    for day in days:
        assert build(db_url, day, tmp_path), day
        post(db_url, day)
    statuses = rows(db_url, "select distinct status from marts.recon_summary")
    assert statuses == [("ok",)]
    # fees of each day, summed straight from the trades of its UTC day
    for day in days:
        (expected,) = rows(
            db_url,
            """select sum(maker_fee) + sum(taker_fee) from exchange.trades
               where executed_at >= %s::date and executed_at < %s::date + 1""",
            day,
            day,
        )[0]
        (got,) = rows(
            db_url, "select sum(total_fees) from marts.fct_daily_fees where business_date = %s", day
        )[0]
        assert got == expected
    unpaid = rows(
        db_url,
        """select p.business_date from marts.fct_staking_pool p
           left join marts.fct_staking_payouts s using (business_date)
           where not p.gated group by p.business_date, p.pool_qtra
           having coalesce(sum(s.payout_qtra), 0) <> p.pool_qtra""",
    )
    assert unpaid == []
    assert_floor_agrees(db_url, days[-1])
    before = checksums(db_url)
    assert build(db_url, days[-1], tmp_path)
    assert build(db_url, days[1], tmp_path)
    assert checksums(db_url) == before


def assert_floor_agrees(url: str, day: date) -> None:
    """The benchmark's hand-written same-outputs floor is a second implementation of
    the day's marts: its figures must be theirs."""
    from eod.db import connect
    from eod.devkit.bench.floors import SAME_OUTPUTS

    start, end = Cutover.parse("00:00 UTC").window(day)
    pairs = [
        (
            "select user_id, currency, total from s_fees",
            "select user_id, currency, total_fees from marts.fct_daily_fees",
        ),
        (
            "select user_id, tier, round(volume_30d, 18) from s_tiers",
            "select user_id, tier, volume_30d from marts.fct_fee_tiers",
        ),
        (
            "select user_id, currency, round(position_qty, 18), round(realised, 18) from s_pnl",
            "select user_id, currency, position_qty, realised_pnl from marts.fct_daily_pnl",
        ),
        (
            "select user_id, currency, leaf_hash from s_snapshots",
            "select user_id, currency, leaf_hash from marts.user_balance_snapshots",
        ),
        (
            "select user_id, currency, balance from s_ledger",
            "select user_id, currency, ledger_total from (select * from"
            " intermediate.int_me_ledger_compared where ledger_total <> 0) as carried",
        ),
    ]
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for query in SAME_OUTPUTS.values():
                cur.execute(query, {"day": day, "start": start, "end": end})
            for floor, mart in pairs:
                cur.execute(f"{floor} order by 1, 2")
                expected = cur.fetchall()
                cur.execute(f"{mart} where business_date = %s order by 1, 2", (day,))
                assert cur.fetchall() == expected, mart
                assert expected, floor
    finally:
        conn.rollback()
        conn.close()


def test_faulted_day_fails_and_keeps_its_breaks(db_url, tmp_path):
    days = generated(
        db_url,
        break_ledger=2,
        custody_drift={"BTC": 100_000_000},
        staking_drift=3,
        fault_date=START,
    )
    assert not build(db_url, days[0], tmp_path)
    assert rows(db_url, "select count(*) > 0 from marts.recon_me_ledger") == [(True,)]
    assert rows(db_url, "select currency, difference from marts.recon_custody where is_break") == [
        ("BTC", Decimal(1))
    ]
    assert rows(db_url, "select difference from marts.recon_staking") == [(Decimal("3E-18"),)]
    kept = rows(
        db_url,
        "select distinct test_name from audit.test_failures where business_date = %s order by 1",
        days[0],
    )
    assert kept == [
        ("assert_custody_covers_liabilities",),
        ("assert_me_matches_ledger",),
        ("assert_staking_matches_chain",),
    ]
