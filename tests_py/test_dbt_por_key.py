"""`eod dbt build` on a warehouse no close has keyed: the proof-of-reserves key is
stored from EOD_POR_SECRET first, and without it the command is refused in one line."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg2

from tests_py.conftest import run_eod

D = date(2026, 4, 7)
SECRET = "the close's key"
# (user_id, currency, total, locked); decimals: BTC 8, USDT 6
BALANCES = [(11, "BTC", "1.23456789", "0.2"), (11, "USDT", "10", "0"), (12, "BTC", "-0.5", "0")]
DECIMALS = {"BTC": 8, "USDT": 6}


def _query(db_url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _captured(db_url: str) -> None:
    as_of = datetime(2026, 4, 8, tzinfo=UTC)
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into exchange.currencies (currency, decimals) values (%s, %s)",
            list(DECIMALS.items()),
        )
        cur.executemany(
            "insert into exchange.users (user_id, status) values (%s, 'active')", [(11,), (12,)]
        )
        cur.executemany(
            """insert into eod.me_balances
                   (business_date, user_id, currency, total, locked, available, as_of, sequence)
               values (%s, %s, %s, %s, %s, %s::numeric - %s::numeric, %s, 1)""",
            [(D, u, c, t, lk, t, lk, as_of) for u, c, t, lk in BALANCES],
        )
    conn.close()


def expected_leaf(user_id: int, currency: str, total: str) -> str:
    """CONTRACT section 7 by hand: HMAC nonce, units clamped at zero."""
    nonce = hmac.new(SECRET.encode(), f"{D}:{user_id}".encode(), hashlib.sha256).hexdigest()
    units = max(int(Decimal(total) * 10 ** DECIMALS[currency]), 0)
    return hashlib.sha256(f"leaf|{nonce}|{user_id}|{currency}|{units}".encode()).hexdigest()


def _build(eod_env, tmp_path, **extra) -> object:
    env = {k: v for k, v in eod_env.items() if k != "EOD_POR_SECRET"} | extra
    return run_eod(
        [
            "dbt",
            "build",
            "--select",
            "+user_balance_snapshots",
            "--vars",
            json.dumps({"business_date": D.isoformat()}),
            "--target-path",
            str(tmp_path / "target"),
        ],
        env,
        check=False,
    )


def test_dbt_build_without_the_key_says_what_to_set_and_writes_nothing(eod_env, db_url, tmp_path):
    _captured(db_url)
    proc = _build(eod_env, tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        "eod dbt: EOD_POR_SECRET is not set: dbt build computes the proof-of-reserves"
        " leaf hashes with it; set it to the close's key"
    )
    assert _query(db_url, "select count(*) from eod.por_key") == [(0,)]
    assert _query(db_url, "select to_regclass('marts.user_balance_snapshots')") == [(None,)]


def test_dbt_build_stores_the_key_on_a_warehouse_no_close_keyed(eod_env, db_url, tmp_path):
    _captured(db_url)
    assert _query(db_url, "select count(*) from eod.por_key") == [(0,)]
    proc = _build(eod_env, tmp_path, EOD_POR_SECRET=SECRET)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _query(
        db_url,
        "select user_id, currency, leaf_hash from marts.user_balance_snapshots order by 1, 2",
    )
    assert rows == [(u, c, expected_leaf(u, c, t)) for u, c, t, _ in BALANCES]
    # the key only: no close ran, nothing recorded for D
    assert _query(db_url, "select count(*) from eod.por_key") == [(1,)]
    assert _query(db_url, "select count(*) from eod.eod_runs") == [(0,)]
