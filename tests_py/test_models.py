"""The EOD marts built by `dbt build` on a small hand-made exchange (model_fixtures).

Every expected figure is worked out by hand here from the fixture's trades, marks,
stakes and router rows; the comments show the arithmetic.
"""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg2
import pytest

from eod import dbt
from eod.close import postings
from eod.db import with_database
from eod.por_key import store_por_key
from tests_py import model_fixtures as fx
from tests_py.conftest import create_database, drop_database

MARTS = [
    "user_balance_snapshots",
    "fct_daily_pnl",
    "fct_daily_fees",
    "fct_fee_tiers",
    "fct_fee_journal",
    "fct_staking_pool",
    "fct_staking_payouts",
    "fct_staking_payout_journal",
    "recon_me_ledger",
    "recon_custody",
    "recon_staking",
    "recon_summary",
]


def build(url: str, day, target) -> bool:
    """`dbt build` for one business date, with its own target folder."""
    args = ["build", "--vars", json.dumps({"business_date": day.isoformat()})]
    return dbt.invoke([*args, "--target-path", str(target)], url)


def rows(url: str, query: str, *params) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def checksums(url: str) -> dict[str, str]:
    """md5 of every mart's rows as text, in a fixed order."""
    return {
        mart: rows(
            url,
            "select md5(coalesce(string_agg(t::text, '|' order by t::text), ''))"
            f" from marts.{mart} t",
        )[0][0]
        for mart in MARTS
    }


def fresh_database(pg_server_url, template_db):
    name = create_database(pg_server_url, template_db)
    return name, with_database(pg_server_url, name)


POR_SECRET = "test-por-secret"


@pytest.fixture(scope="module")
def closed_target(tmp_path_factory):
    """The dbt target folder of the closes of `closed_url`."""
    return tmp_path_factory.mktemp("dbt-target")


@pytest.fixture(scope="module")
def closed_url(pg_server_url, template_db, closed_target):
    """D1 and D2 captured and closed (dbt build each) on the fixture exchange."""
    name, url = fresh_database(pg_server_url, template_db)
    fx.load(url, fx.D1, fx.D2)
    conn = psycopg2.connect(url)
    with conn:
        store_por_key(conn, POR_SECRET)
    conn.close()
    target = closed_target
    assert build(url, fx.D1, target)
    assert build(url, fx.D2, target)
    yield url
    drop_database(pg_server_url, name)


D = Decimal


def test_pnl_of_first_date(closed_url):
    got = {
        (u, c): r
        for u, c, *r in rows(
            closed_url,
            """select user_id, currency, realised_pnl, unrealised_pnl, position_qty, avg_cost,
                      mark_price from marts.fct_daily_pnl where business_date = %s""",
            fx.D1,
        )
    }
    assert got == {
        # sells 2 @105 beyond any position, against the BTC mark of D-1 (100): 2 * 5
        (1, "BTC"): [D(10), D(0), D(0), D(0), D(110)],
        # buys 5 ETH @0.1 BTC, 0.1 * 110 (BTC mark of D1) = 11 USDT; ETH mark 10
        (1, "ETH"): [D(0), D(-5), D(5), D(11), D(10)],
        # buys 2 @105; sells 1 @130 (+25) and 1 @160 (+55); flat, cost reset
        (2, "BTC"): [D(80), D(0), D(0), D(0), D(110)],
        # buys 1 @130 and 1 @160: cost 145; 2 * (110 - 145)
        (3, "BTC"): [D(0), D(-70), D(2), D(145), D(110)],
        # sells 5 ETH beyond any position, no ETH mark before D1: against the price, 0
        (4, "ETH"): [D(0), D(0), D(0), D(0), D(10)],
        (5, "SOL"): [D(0), D(0), D(100), D(1000), D(1000)],
        (6, "SOL"): [D(0), D(0), D(0), D(0), D(1000)],
    }


def test_pnl_carried_into_second_date(closed_url):
    got = {
        (u, c): r
        for u, c, *r in rows(
            closed_url,
            """select user_id, currency, realised_pnl, unrealised_pnl, position_qty, avg_cost
               from marts.fct_daily_pnl where business_date = %s""",
            fx.D2,
        )
    }
    assert got == {
        (1, "ETH"): [D(0), D(-5), D(5), D(11)],  # open position, no trade
        (2, "BTC"): [D(0), D(-30), D(1), D(150)],  # buys 1 @150; 1 * (120 - 150)
        (3, "BTC"): [D(5), D(-25), D(1), D(145)],  # sells 1 @150 of 2 @145
        (5, "SOL"): [D(0), D(0), D(100), D(1000)],
    }


def test_fees_tiers_and_volumes(closed_url):
    fees = rows(
        closed_url,
        """select user_id, currency, maker_fees, taker_fees, total_fees, trade_count,
                  total_fees_usdt
           from marts.fct_daily_fees where business_date = %s order by 1, 2""",
        fx.D1,
    )
    assert fees == [
        (1, "BTC", D(0), D("0.0002"), D("0.0002"), 1, D("0.022")),  # 0.0002 * 110
        (1, "USDT", D("0.21"), D(0), D("0.21"), 1, D("0.21")),
        (2, "USDT", D("0.16"), D("0.68"), D("0.84"), 3, D("0.84")),  # taker 0.42 + 0.26
        (3, "USDT", D("0.13"), D("0.32"), D("0.45"), 2, D("0.45")),
        (4, "BTC", D("0.0001"), D(0), D("0.0001"), 1, D("0.011")),
        (5, "USDT", D(0), D(0), D(0), 1, D(0)),
        (6, "USDT", D(0), D(0), D(0), 1, D(0)),
    ]
    tiers = rows(
        closed_url,
        """select business_date, user_id, volume_1d, volume_30d, tier, maker_fee_bps,
                  taker_fee_bps, effective_date
           from marts.fct_fee_tiers order by 1, 2""",
    )
    vip0, vip1 = ("VIP0", D(10), D(20)), ("VIP1", D(8), D(18))
    d1, d2, d3 = fx.D1, fx.D2, fx.D2.replace(day=3)
    assert tiers == [
        (d1, 1, D(265), D(265), *vip0, d2),  # 2 * 105 + 5 * 0.1 * 110
        (d1, 2, D(500), D(500), *vip0, d2),  # 210 + 130 + 160
        (d1, 3, D(290), D(290), *vip0, d2),
        (d1, 4, D(55), D(55), *vip0, d2),
        (d1, 5, D(100000), D(100000), *vip1, d2),  # exactly the VIP1 threshold
        (d1, 6, D(100000), D(100000), *vip1, d2),
        (d2, 1, D(0), D(265), *vip0, d3),
        (d2, 2, D(150), D(650), *vip0, d3),
        (d2, 3, D(150), D(440), *vip0, d3),
        (d2, 4, D(0), D(55), *vip0, d3),
        (d2, 5, D(0), D(100000), *vip1, d3),
        (d2, 6, D(0), D(100000), *vip1, d3),
    ]
    history = rows(closed_url, "select user_id, tier from snapshots.fee_tier_history order by 1")
    assert history == [(1, "VIP0"), (2, "VIP0"), (3, "VIP0"), (4, "VIP0"), (5, "VIP1"), (6, "VIP1")]


def test_staking_pool_payouts_and_gating(closed_url):
    pools = rows(
        closed_url,
        """select business_date, fee_revenue_usdt, staking_share, router_status, pool_qtra,
                  staker_count, gated from marts.fct_staking_pool order by 1""",
    )
    assert pools == [
        # revenue 1.50 USDT + 0.0003 BTC * 110 = 1.533; * 0.5 / QTRA mark 3 = 0.2555 QTRA;
        # user 4 staked at noon of D1, so three stakers
        (fx.D1, D("1.533"), D("0.5"), "open", D("0.2555"), 3, False),
        # D2: 0.45 USDT of fees but no router row: gated, nothing paid
        (fx.D2, D("0.45"), None, None, D(0), 4, True),
    ]
    payouts = rows(
        closed_url,
        "select business_date, user_id, payout_qtra from marts.fct_staking_payouts order by 1, 2",
    )
    # 255500000000000000 units / 3: floors 85166666666666666, remainder 2 each; the 2
    # units left go to the tie's lower user ids 1 and 2
    assert payouts == [
        (fx.D1, 1, D("0.085166666666666667")),
        (fx.D1, 2, D("0.085166666666666667")),
        (fx.D1, 3, D("0.085166666666666666")),
    ]
    assert sum(p for *_, p in payouts) == D("0.2555")


def test_journals_balance_and_have_stable_ids(closed_url):
    legs = rows(
        closed_url,
        """select reference_id, account, user_id, currency, amount from marts.fct_fee_journal
           where business_date = %s order by 1, 2""",
        fx.D1,
    )
    assert legs == [
        ("2026-03-01:1:BTC", "house:fee_revenue", None, "BTC", D("0.0002")),
        ("2026-03-01:1:BTC", "user", 1, "BTC", D("-0.0002")),
        ("2026-03-01:1:USDT", "house:fee_revenue", None, "USDT", D("0.21")),
        ("2026-03-01:1:USDT", "user", 1, "USDT", D("-0.21")),
        ("2026-03-01:2:USDT", "house:fee_revenue", None, "USDT", D("0.84")),
        ("2026-03-01:2:USDT", "user", 2, "USDT", D("-0.84")),
        ("2026-03-01:3:USDT", "house:fee_revenue", None, "USDT", D("0.45")),
        ("2026-03-01:3:USDT", "user", 3, "USDT", D("-0.45")),
        ("2026-03-01:4:BTC", "house:fee_revenue", None, "BTC", D("0.0001")),
        ("2026-03-01:4:BTC", "user", 4, "BTC", D("-0.0001")),
    ]
    payout_legs = rows(
        closed_url,
        """select reference_id, account, user_id, currency, amount
           from marts.fct_staking_payout_journal order by 1, 2""",
    )
    assert payout_legs[:2] == [
        ("2026-03-01:1", "house:staking_rewards", None, "QTRA", D("-0.085166666666666667")),
        ("2026-03-01:1", "user", 1, "QTRA", D("0.085166666666666667")),
    ]
    assert len(payout_legs) == 6
    unbalanced = rows(
        closed_url,
        """select journal_id, currency from marts.fct_fee_journal group by 1, 2
           having sum(amount) <> 0
           union all
           select journal_id, currency from marts.fct_staking_payout_journal group by 1, 2
           having sum(amount) <> 0""",
    )
    assert unbalanced == []


def test_clean_days_reconcile(closed_url):
    summary = rows(
        closed_url,
        "select business_date, check_name, items_checked, breaks, status "
        "from marts.recon_summary order by 1, 2",
    )
    # 13 (user, currency) pairs in the registry; 6 currencies; one staking check
    assert summary == [
        (fx.D1, "custody", 6, 0, "ok"),
        (fx.D1, "me_ledger", 13, 0, "ok"),
        (fx.D1, "staking", 1, 0, "ok"),
        (fx.D2, "custody", 6, 0, "ok"),
        (fx.D2, "me_ledger", 13, 0, "ok"),
        (fx.D2, "staking", 1, 0, "ok"),
    ]
    assert rows(closed_url, "select count(*) from marts.recon_me_ledger") == [(0,)]
    custody = rows(
        closed_url,
        "select currency, liabilities, custody_balance from marts.recon_custody "
        "where business_date = %s and currency in ('BTC', 'USDT') order by 1",
        fx.D2,
    )
    # BTC: 3 deposited by user 1, fees 0.0003 paid to the house
    # USDT: 103000 deposited, 1.50 + 0.45 of fees paid to the house
    assert custody == [("BTC", D("2.9997"), D("2.9997")), ("USDT", D("102998.05"), D("102998.05"))]


def test_rebuild_is_byte_identical_and_counts_a_posted_fee_journal_once(closed_url, tmp_path):
    before = checksums(closed_url)
    conn = psycopg2.connect(closed_url)
    with conn, conn.cursor() as cur:
        result = postings.post_journal(cur, postings.FEE_JOURNAL, fx.D1, fx.D1, fx.D2_START)
    conn.close()
    assert result.legs_inserted == 10
    assert build(closed_url, fx.D1, tmp_path)
    assert build(closed_url, fx.D2, tmp_path)
    assert checksums(closed_url) == before


def test_grants_finance_reader_reads_marts_only(closed_url):
    conn = psycopg2.connect(closed_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set role finance_reader")
            for mart in MARTS:
                cur.execute(f"select count(*) from marts.{mart}")
            for statement in (
                "select count(*) from exchange.trades",
                "select count(*) from exchange.ledger_entries",
                "insert into marts.recon_summary (check_name) values ('x')",
                "delete from marts.fct_daily_pnl",
                "create table marts.scratch (x int)",
                "create table public.scratch (x int)",
                "insert into exchange.users (user_id) values (99)",
            ):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
    finally:
        conn.close()


def test_leaf_hashes_match_python(closed_url):
    import hashlib
    import hmac

    got = rows(
        closed_url,
        """select user_id, currency, leaf_hash from marts.user_balance_snapshots
           where business_date = %s and user_id = 2 and currency = 'USDT'""",
        fx.D1,
    )
    nonce = hmac.new(POR_SECRET.encode(), b"2026-03-01:2", hashlib.sha256).hexdigest()
    # user 2 USDT: 1000 - 210 + 130 + 160 - 0.84 = 1079.16, 6 decimals
    leaf = hashlib.sha256(f"leaf|{nonce}|2|USDT|1079160000".encode()).hexdigest()
    assert got == [(2, "USDT", leaf)]


def test_the_secret_is_in_no_dbt_artifact_or_log(closed_url, closed_target):
    from eod.config import PROJECT_DIR

    files = [p for p in closed_target.rglob("*") if p.is_file()]
    files += [p for p in (PROJECT_DIR / "logs").rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files)
    assert [p for p in files if POR_SECRET.encode() in p.read_bytes()] == []


def test_a_gap_in_the_closes_is_refused(closed_url, tmp_path):
    assert not build(closed_url, fx.D2.replace(day=4), tmp_path)
    dates = rows(closed_url, "select business_date from intermediate.int_business_dates_windowed")
    assert sorted(d for (d,) in dates) == [fx.D1, fx.D2]


def test_injected_faults_fail_the_build_and_are_kept(pg_server_url, template_db, tmp_path):
    name, url = fresh_database(pg_server_url, template_db)
    try:
        fx.load(url, fx.D1)
        conn = psycopg2.connect(url)
        with conn:
            store_por_key(conn, "k")
            fx.inject_faults(conn, fx.D1)
        conn.close()
        assert not build(url, fx.D1, tmp_path)
        assert rows(url, "select user_id, currency, difference from marts.recon_me_ledger") == [
            (1, "USDT", D(5))
        ]
        assert rows(url, "select currency, difference from marts.recon_custody where is_break") == [
            ("BTC", D(-1))
        ]
        assert rows(url, "select difference, is_break from marts.recon_staking") == [
            (D("1E-18"), True)
        ]
        assert rows(
            url,
            "select check_name, breaks, status from marts.recon_summary order by 1",
        ) == [("custody", 1, "break"), ("me_ledger", 1, "break"), ("staking", 1, "break")]
        kept = rows(
            url,
            "select test_name, count(*) from audit.test_failures where business_date = %s "
            "group by 1 order by 1",
            fx.D1,
        )
        assert kept == [
            ("assert_custody_covers_liabilities", 1),
            ("assert_me_matches_ledger", 1),
            ("assert_staking_matches_chain", 1),
        ]
    finally:
        drop_database(pg_server_url, name)


def test_a_build_without_business_date_says_so(eod_env, tmp_path):
    from tests_py.conftest import run_eod

    proc = run_eod(
        ["dbt", "run", "--select", "int_business_dates_windowed", "--target-path", str(tmp_path)],
        {**eod_env, "EOD_POR_SECRET": "k"},
        check=False,
    )
    assert proc.returncode != 0
    assert "the EOD models need the business date" in proc.stdout + proc.stderr
