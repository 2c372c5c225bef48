"""`eod generate`: deterministic, consistent by construction, faults exactly as named.

Every expectation is recomputed here from the platform tables in SQL or Python,
independently of the generator's own arithmetic.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg2
import pytest

from eod.business_date import Cutover
from tests_py.conftest import run_eod

SMALL = ["--users", "300", "--days", "3", "--trades-per-day", "3000"]
CHECKSUM_TABLES = (
    "exchange.currencies",
    "exchange.users",
    "exchange.accounts",
    "exchange.trades",
    "exchange.ledger_entries",
    "exchange.mark_prices",
    "exchange.staking_positions",
    "exchange.revenue_router",
    "exchange.custody_wallets",
    "sim.me_snapshots",
    "sim.me_registry",
    "sim.custody_wallet_balances",
    "sim.onchain_staked",
)


def query(url: str, sql: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def checksums(url: str) -> dict[str, str]:
    return {
        table: query(
            url,
            # tx_id (the writing transaction, CONTRACT section 4's late entries) differs
            # between two loads of the same rows
            f"select count(*)::text || ':' || coalesce(md5(string_agg(r, '|' order by r)), '') "
            f"from (select (to_jsonb(t) - 'tx_id')::text as r from {table} as t) as rows",
        )[0][0]
        for table in CHECKSUM_TABLES
    }


def test_same_seed_same_tables_other_seed_different(eod_env, db_url):
    run_eod(["generate", "--seed", "7", *SMALL], eod_env)
    first = checksums(db_url)
    run_eod(["generate", "--seed", "7", "--reset", *SMALL], eod_env)
    assert checksums(db_url) == first
    run_eod(["generate", "--seed", "8", "--reset", *SMALL], eod_env)
    other = checksums(db_url)
    for table in (
        "exchange.users",
        "exchange.trades",
        "exchange.ledger_entries",
        "sim.me_registry",
    ):
        assert other[table] != first[table], table


@pytest.fixture
def generated(eod_env, db_url):
    env = dict(eod_env, EOD_CUTOVER="16:00 America/New_York")
    # Spans the end of US daylight saving time (2026-11-01 is a 25-hour business date).
    proc = run_eod(["generate", "--seed", "3", "--start", "2026-10-31", *SMALL], env)
    assert "took" in proc.stdout
    return db_url


def _windows(dates: list[date]) -> dict[date, tuple]:
    cutover = Cutover.parse("16:00 America/New_York")
    return {d: cutover.window(d) for d in dates}


def test_every_journal_balances_and_carries_its_business_date(generated):
    assert (
        query(
            generated,
            """select journal_id, currency from exchange.ledger_entries
           group by journal_id, currency having sum(amount) <> 0""",
        )
        == []
    )
    rows = query(
        generated, "select distinct business_date, effective_at from exchange.ledger_entries"
    )
    cutover = Cutover.parse("16:00 America/New_York")
    wrong = [(d, t) for d, t in rows if cutover.business_date_of(t) != d]
    assert wrong == []
    dates = {d for d, _ in rows}
    assert dates == {date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)}
    # Trades: four user legs, buyer +qty base / -qty*price quote, seller the opposite.
    assert (
        query(
            generated,
            """select t.trade_id
           from exchange.trades as t
           join exchange.ledger_entries as e
             on e.reference_type = 'trade' and e.reference_id = t.trade_id::text
           group by t.trade_id, t.qty, t.price
           having count(*) <> 4 or count(distinct e.journal_id) <> 1
               or sum(abs(e.amount)) <> 2 * t.qty + 2 * t.qty * t.price
               or bool_or(e.account <> 'user') or bool_or(e.created_by <> 'platform')
               or bool_or(e.effective_at <> t.executed_at)""",
        )
        == []
    )


def test_fees_rounded_down_in_the_quote_and_not_in_the_ledger(generated):
    assert (
        query(
            generated,
            """select t.trade_id from exchange.trades as t
           join exchange.currencies as c on c.currency = t.quote
           where t.fee_currency <> t.quote
              or t.maker_fee <> trunc(t.qty * t.price * 10 / 10000, c.decimals)
              or t.taker_fee <> trunc(t.qty * t.price * 20 / 10000, c.decimals)
              or scale(trim_scale(t.qty * t.price)) > c.decimals""",
        )
        == []
    )
    assert query(
        generated, "select count(*) from exchange.ledger_entries where reference_type like 'fee%'"
    ) == [(0,)]
    pairs = {
        r[0] for r in query(generated, "select distinct base || '/' || quote from exchange.trades")
    }
    assert pairs == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "QTRA/USDT", "ETH/BTC"}


def test_registry_is_ledger_minus_fees_for_every_account_and_date(generated):
    ends = query(generated, "select business_date, as_of from sim.me_snapshots order by 1")
    assert [d for d, _ in ends] == [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    for business_date, end in ends:
        assert _windows([business_date])[business_date][1] == end
        mismatches = query(
            generated,
            """with ledger as (
                   select user_id, currency, sum(amount) as amount
                   from exchange.ledger_entries
                   where account = 'user' and effective_at < %(end)s group by 1, 2
               ), fees as (
                   select user_id, currency, sum(fee) as fee from (
                       select maker_user_id as user_id, fee_currency as currency, maker_fee as fee
                       from exchange.trades where executed_at < %(end)s
                       union all
                       select taker_user_id, fee_currency, taker_fee
                       from exchange.trades where executed_at < %(end)s
                   ) as f group by 1, 2
               ), expected as (
                   select l.user_id, l.currency, l.amount - coalesce(f.fee, 0) as total
                   from ledger as l left join fees as f using (user_id, currency)
               ), registry as (
                   select user_id, currency, total from sim.me_registry
                   where business_date = %(d)s
               )
               select * from expected as e full join registry as r using (user_id, currency)
               where e.total is distinct from r.total""",
            {"end": end, "d": business_date},
        )
        assert mismatches == [], business_date
    assert query(
        generated,
        """select count(*) from sim.me_registry as r
           join exchange.users as u using (user_id)
           join exchange.currencies as c using (currency)
           where r.available <> r.total - r.locked or r.locked < 0 or r.available < 0
              or (u.status <> 'active' and r.locked <> 0)
              or scale(trim_scale(r.total)) > c.decimals
              or scale(trim_scale(r.locked)) > c.decimals""",
    ) == [(0,)]
    assert query(generated, "select count(*) > 0 from sim.me_registry where locked > 0") == [
        (True,)
    ]


def test_no_balance_is_ever_negative_after_fees(generated):
    assert query(
        generated,
        """with moves as (
               select user_id, currency, effective_at as at, amount
               from exchange.ledger_entries where account = 'user'
               union all
               select maker_user_id, fee_currency, executed_at, -maker_fee from exchange.trades
               union all
               select taker_user_id, fee_currency, executed_at, -taker_fee from exchange.trades
           ), running as (
               select sum(amount) over (partition by user_id, currency
                                        order by at, amount rows unbounded preceding) as balance
               from moves
           )
           select count(*) from running where balance < 0""",
    ) == [(0,)]


def test_users_states_activity_and_skew(generated):
    states = dict(query(generated, "select status::text, count(*) from exchange.users group by 1"))
    assert set(states) == {
        "pending_kyc",
        "kyc_rejected",
        "kyc_approved",
        "active",
        "suspended",
        "restricted",
        "closed",
        "banned",
    }
    assert states["active"] > sum(states.values()) / 2
    assert query(
        generated,
        """select count(*) from exchange.trades as t
           join exchange.users as m on m.user_id = t.maker_user_id
           join exchange.users as k on k.user_id = t.taker_user_id
           where m.status <> 'active' or k.status <> 'active'
              or t.maker_user_id = t.taker_user_id""",
    ) == [(0,)]
    assert query(
        generated,
        """select count(*) from exchange.ledger_entries as e join exchange.users using (user_id)
           where status in ('closed', 'pending_kyc', 'kyc_rejected', 'kyc_approved')""",
    ) == [(0,)]
    # Accounts are exactly the (user, currency) pairs the ledger uses.
    assert query(
        generated,
        """select count(*) from exchange.accounts as a
           full join (select distinct user_id, currency from exchange.ledger_entries
                      where account = 'user') as l using (user_id, currency)
           where a.user_id is null or l.user_id is null""",
    ) == [(0,)]
    # Skewed like a venue: the busiest tenth of traders take part in most trades.
    counts = [
        r[0]
        for r in query(
            generated,
            """select count(*) from (select maker_user_id as u from exchange.trades
                                     union all select taker_user_id from exchange.trades) as x
               group by u order by 1 desc""",
        )
    ]
    top = counts[: max(1, len(counts) // 10)]
    assert sum(top) > 0.5 * sum(counts)


def test_marks_router_wallets_custody_and_stake(generated):
    dates = [date(2026, 10, 31) + timedelta(days=i) for i in range(3)]
    windows = _windows(dates)
    marks = query(generated, "select currency, price, as_of from exchange.mark_prices")
    for start, end in windows.values():
        inside = {c for c, _, at in marks if start <= at < end}
        assert inside == {"BTC", "ETH", "USDT", "SOL", "XRP", "QTRA"}
    assert {p for c, p, _ in marks if c == "USDT"} == {Decimal(1)}
    assert len({p for c, p, _ in marks if c == "BTC"}) > 1
    assert query(
        generated,
        "select business_date, staking_share, status from exchange.revenue_router order by 1",
    ) == [(d, Decimal("0.25"), "open") for d in dates]
    wallets = query(
        generated, "select currency, count(*), min(coin) from exchange.custody_wallets group by 1"
    )
    assert all(1 <= n <= 3 and coin == cur.lower() for cur, n, coin in wallets)
    assert len(wallets) == 6
    # Custody = what users own after fees, in base units, per currency and date.
    assert (
        query(
            generated,
            """select w.business_date, w.currency from sim.custody_wallet_balances as w
           join exchange.currencies as c using (currency)
           group by w.business_date, w.currency, c.decimals
           having sum(w.balance_units) <> (
               select sum(r.total) * power(10::numeric, c.decimals) from sim.me_registry as r
               where r.business_date = w.business_date and r.currency = w.currency)""",
        )
        == []
    )
    positions = query(
        generated, "select amount, staked_at, unstaked_at from exchange.staking_positions"
    )
    assert any(u is not None for _, _, u in positions) and any(u is None for _, _, u in positions)
    staked = dict(query(generated, "select business_date, total_units from sim.onchain_staked"))
    for d, (_, end) in windows.items():
        expected = sum(a for a, s, u in positions if s < end and (u is None or u >= end)) * 10**18
        assert staked[d] == expected


def test_faults_change_exactly_what_they_name(eod_env, db_url):
    run_eod(["generate", "--seed", "5", *SMALL], eod_env)
    clean = checksums(db_url)
    registry = dict(
        ((d, u, c), t)
        for d, u, c, t in query(
            db_url, "select business_date, user_id, currency, total from sim.me_registry"
        )
    )
    custody = dict(
        ((d, w), b)
        for d, w, b in query(
            db_url,
            "select business_date, wallet_id, balance_units from sim.custody_wallet_balances",
        )
    )
    staked = dict(query(db_url, "select business_date, total_units from sim.onchain_staked"))

    proc = run_eod(
        [
            "generate",
            "--seed",
            "5",
            "--reset",
            *SMALL,
            "--break-ledger",
            "3",
            "--custody-drift",
            "BTC=0.5",
            "--staking-drift",
            "42",
            "--fault-date",
            "2026-11-02",
        ],
        eod_env,
    )
    assert proc.stdout.count("fault:") == 5
    faulty = checksums(db_url)
    changed = {t for t in CHECKSUM_TABLES if faulty[t] != clean[t]}
    assert changed == {"sim.me_registry", "sim.custody_wallet_balances", "sim.onchain_staked"}

    fault_day = date(2026, 11, 2)
    rows = query(
        db_url,
        "select business_date, user_id, currency, total, locked, available from sim.me_registry",
    )
    drifted = [
        (d, u, c, t - registry[d, u, c]) for d, u, c, t, _, _ in rows if t != registry[d, u, c]
    ]
    assert len(drifted) == 3 and len({u for _, u, _, _ in drifted}) == 3
    assert all(d == fault_day and diff > 0 for d, _, _, diff in drifted)
    assert all(a == t - lk for _, _, _, t, lk, a in rows)

    btc = {
        w
        for (w,) in query(
            db_url, "select wallet_id from exchange.custody_wallets where currency = 'BTC'"
        )
    }
    after = dict(
        ((d, w), b)
        for d, w, b in query(
            db_url,
            "select business_date, wallet_id, balance_units from sim.custody_wallet_balances",
        )
    )
    diffs = {k: after[k] - custody[k] for k in custody if after[k] != custody[k]}
    assert sum(diffs.values()) == 50_000_000
    assert all(d == fault_day and w in btc for d, w in diffs)

    now = dict(query(db_url, "select business_date, total_units from sim.onchain_staked"))
    assert {d: now[d] - staked[d] for d in staked if now[d] != staked[d]} == {fault_day: 42}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--custody-drift", "BTC=0.000000001"], "more than 8 decimals"),
        (["--custody-drift", "DOGE=1"], "unknown currency"),
        (["--fault-date", "2026-12-01"], "not a generated business date"),
        (["--users", "3"], "--users must be at least"),
        (["--start", "tomorrow"], "--start must be YYYY-MM-DD"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(eod_env, db_url, args, message):
    proc = run_eod(["generate", *SMALL, *args], eod_env, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert query(db_url, "select count(*) from exchange.users") == [(0,)]


def test_an_existing_exchange_is_kept_without_reset(eod_env, db_url):
    run_eod(["generate", "--users", "20", "--days", "1", "--trades-per-day", "50"], eod_env)
    before = checksums(db_url)
    proc = run_eod(
        ["generate", "--users", "20", "--days", "1", "--trades-per-day", "50", "--seed", "9"],
        eod_env,
        check=False,
    )
    assert proc.returncode != 0 and "--reset" in proc.stderr
    assert checksums(db_url) == before


def test_chunked_copy_loads_every_row(db_url, monkeypatch):
    """Small COPY chunks (some of them empty) load exactly what one big chunk loads."""
    from eod.devkit.generate import generate, pgcopy
    from eod.devkit.generate.model import Options

    opts = Options(
        seed=4,
        users=60,
        days=2,
        trades_per_day=300,
        start=date(2026, 11, 1),
        cutover=Cutover.parse("00:00 UTC"),
        registry_days=2,
    )
    content = """select count(*), md5(string_agg(x, '|' order by x)) from (
                     select concat_ws(',', journal_id, user_id, account, currency, amount,
                                      reference_type, reference_id, business_date,
                                      effective_at) as x
                     from exchange.ledger_entries) as t"""
    generate(db_url, opts)
    whole = query(db_url, content)
    monkeypatch.setattr(pgcopy, "CHUNK", 7)
    result = generate(db_url, opts, reset=True)
    assert query(db_url, content) == whole
    trades, funding = len(result.exchange.trade_us), len(result.exchange.funding_us)
    assert whole[0][0] == result.counts["ledger_entries"] == 4 * trades + 2 * funding


def test_registry_days_keeps_only_the_last_days(eod_env, db_url):
    run_eod(["generate", *SMALL, "--registry-days", "1"], eod_env)
    assert query(db_url, "select distinct business_date from sim.me_registry") == [
        (date(2026, 11, 3),)
    ]
    assert query(db_url, "select business_date from sim.me_snapshots") == [(date(2026, 11, 3),)]
    # Custody and the chain are small: every day is kept.
    assert query(
        db_url, "select count(distinct business_date) from sim.custody_wallet_balances"
    ) == [(3,)]
    assert query(db_url, "select count(*) from sim.onchain_staked") == [(3,)]
    proc = run_eod(
        [
            "generate",
            *SMALL,
            "--registry-days",
            "1",
            "--break-ledger",
            "1",
            "--fault-date",
            "2026-11-01",
            "--reset",
        ],
        eod_env,
        check=False,
    )
    assert proc.returncode != 0 and "--registry-days" in proc.stderr
