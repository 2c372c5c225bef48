"""eod.por_leaf_hash and eod.por_nonces (SQL, over the stored pads) against Python's hmac."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import psycopg2
import pytest

from eod.errors import ConfigError
from eod.por_key import store_por_key


def python_leaf(secret: str, day: date, user_id: int, currency: str, units: int) -> str:
    """CONTRACT section 7, written out independently of the SQL."""
    nonce = hmac.new(
        secret.encode(), f"{day.isoformat()}:{user_id}".encode(), hashlib.sha256
    ).hexdigest()
    return hashlib.sha256(f"leaf|{nonce}|{user_id}|{currency}|{units}".encode()).hexdigest()


def sql_leaf(conn, day, user_id, currency, units) -> str:
    with conn.cursor() as cur:
        cur.execute("select eod.por_leaf_hash(%s, %s, %s, %s)", (day, user_id, currency, units))
        return cur.fetchone()[0]


@pytest.mark.parametrize(
    "secret",
    ["s", "a secret of exactly sixty-four bytes, padded to the block size!!", "k" * 200, "ключ"],
)
def test_sql_leaf_hash_matches_python(db_url, secret):
    conn = psycopg2.connect(db_url)
    try:
        with conn:
            store_por_key(conn, secret)
        cases = [
            (date(2026, 3, 1), 1, "BTC", 150000000),
            (date(2026, 3, 1), 2, "USDT", 0),
            (date(2026, 12, 31), 9_000_000_001, "ETH", 10**30 + 7),
        ]
        for case in cases:
            assert sql_leaf(conn, *case) == python_leaf(secret, *case)
    finally:
        conn.close()


def test_a_new_key_replaces_the_old(db_url):
    conn = psycopg2.connect(db_url)
    try:
        with conn:
            store_por_key(conn, "first")
            store_por_key(conn, "second")
        assert sql_leaf(conn, date(2026, 3, 1), 1, "BTC", 5) == python_leaf(
            "second", date(2026, 3, 1), 1, "BTC", 5
        )
    finally:
        conn.close()


def test_refusals(db_url):
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        with pytest.raises(psycopg2.errors.NoDataFound, match="key is not stored"):
            sql_leaf(conn, date(2026, 3, 1), 1, "BTC", 5)
        with pytest.raises(ConfigError):
            store_por_key(conn, "")
        store_por_key(conn, "k")
        for units in (-1, 1.5):
            with pytest.raises(psycopg2.errors.InvalidParameterValue):
                sql_leaf(conn, date(2026, 3, 1), 1, "BTC", units)
    finally:
        conn.close()


def test_only_the_owner_reads_the_pads(db_url):
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        store_por_key(conn, "k")
        with conn.cursor() as cur:
            cur.execute("set role finance_reader")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("select * from eod.por_key")
    finally:
        conn.close()


def test_nonces_of_a_date_match_hmac(db_url):
    """The batch the model uses: one call, every user's HMAC-SHA256 nonce of D."""
    conn = psycopg2.connect(db_url)
    try:
        with conn:
            store_por_key(conn, "batch secret")
        day, users = date(2026, 3, 1), [3, 1, 2, 9_000_000_001]
        with conn.cursor() as cur:
            cur.execute("select user_id, nonce from eod.por_nonces(%s, %s)", (day, users))
            got = dict(cur.fetchall())
        assert got == {
            u: hmac.new(
                b"batch secret", f"{day.isoformat()}:{u}".encode(), hashlib.sha256
            ).hexdigest()
            for u in users
        }
    finally:
        conn.close()
