"""Validation suites run through Great Expectations in Postgres: each rule on
hand-made staged rows, and what is kept of every run."""

from __future__ import annotations

import json
import uuid
from datetime import date

import psycopg2
import pytest

from eod.validation import (
    REGISTRY_SUITE,
    ValidationFailed,
    validate_custody,
    validate_registry,
)
from tests_py.capture_fixtures import query, seed_currencies, seed_users

D = date(2026, 3, 14)


def stage(db_url: str, rows: list[tuple]) -> uuid.UUID:
    """Rows of (user_id, currency, total, locked, available) under a new capture id."""
    capture_id = uuid.uuid4()
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.executemany(
            """insert into eod.me_balances_incoming
                   (capture_id, line_no, user_id, currency, total, locked, available)
               values (%s, %s, %s, %s, %s, %s, %s)""",
            [(str(capture_id), i + 2, *row) for i, row in enumerate(rows)],
        )
    conn.close()
    return capture_id


@pytest.fixture
def db(db_url):
    seed_currencies(db_url)
    seed_users(db_url)
    return db_url


def test_good_registry_passes_and_is_kept(db, tmp_path):
    capture = stage(db, [(1, "BTC", "1.5", "0.5", "1"), (1, "ETH", "0", "0", "0")])
    result = validate_registry(db, D, capture, tmp_path)
    assert result.success
    assert result.summary()["checks"] == {
        "unique_user_currency": 0,
        "total_equals_locked_plus_available": 0,
        "non_negative": 0,
        "known_currency": 0,
        "known_user": 0,
        "decimals_within_currency": 0,
        "amount_in_range": 0,
    }
    [(suite, success, stats)] = query(
        db, "select suite, success, statistics from eod.validation_results"
    )
    assert (suite, success, stats["successful_expectations"]) == (REGISTRY_SUITE, True, 7)
    document = json.loads(result.path.read_text())
    assert document["success"] is True
    # Each expectation keeps the rule it stands for, not only the query of its rows.
    rules = {
        r["expectation_config"]["description"].split(":")[0]: r["expectation_config"]["meta"]
        for r in document["results"]
    }
    assert rules["non_negative"]["rule"] == "b.total < 0 or b.locked < 0 or b.available < 0"
    assert result.path.parent == tmp_path / "validations" / "2026-03-14"


def test_other_captures_are_not_seen(db, tmp_path):
    stage(db, [(1, "BTC", "-1", "0", "-1")])  # someone else's bad capture
    mine = stage(db, [(1, "BTC", "1", "0", "1")])
    assert validate_registry(db, D, mine, tmp_path).success


def test_every_broken_rule_is_counted(db, tmp_path):
    capture = stage(
        db,
        [
            (1, "BTC", "1", "0", "1"),
            (1, "BTC", "1", "0", "1"),  # duplicate
            (2, "BTC", "2", "0", "1"),  # total != locked + available
            (3, "ETH", "-1", "0", "-1"),  # negative
            (4, "DOGE", "1", "0", "1"),  # unknown
            (5, "USDT", "0.0000001", "0", "0.0000001"),  # 7 decimals > 6
            (6, "ETH", "1e21", "0", "1e21"),  # does not fit numeric(38, 18)
            (100, "BTC", "1", "0", "1"),  # a user the platform does not know
        ],
    )
    with pytest.raises(ValidationFailed) as err:
        validate_registry(db, D, capture, tmp_path)
    counts = {c.name: c.count for c in err.value.result.checks}
    assert counts == {
        "unique_user_currency": 1,
        "total_equals_locked_plus_available": 1,
        "non_negative": 1,
        "known_currency": 1,
        "known_user": 1,
        "decimals_within_currency": 1,
        "amount_in_range": 1,
    }
    message = str(err.value)
    assert "\n" not in message
    assert "unique_user_currency: 1 rows (first: user_id=1 currency=BTC row_count=2" in message
    assert "decimals_within_currency: 1 rows (first: line_no=7 user_id=5 currency=USDT" in message
    assert "known_user: 1 rows (first: line_no=9 user_id=100 currency=BTC)" in message
    [(success, result)] = query(db, "select success, result from eod.validation_results")
    assert success is False and result["success"] is False


def test_error_names_at_most_five_rows(db, tmp_path):
    capture = stage(db, [(u, "BTC", "-1", "0", "-1") for u in range(1, 12)])
    with pytest.raises(ValidationFailed) as err:
        validate_registry(db, D, capture, tmp_path)
    message = str(err.value)
    assert "non_negative: 11 rows" in message
    assert (
        message.count("line_no=") == 5 and "user_id=5 " in message and "user_id=6 " not in message
    )


def test_custody_every_wallet_must_answer(db, tmp_path):
    conn = psycopg2.connect(db)
    capture = uuid.uuid4()
    with conn, conn.cursor() as cur:
        cur.executemany(
            "insert into exchange.custody_wallets values (%s, %s, %s)",
            [("BTC", "btc", "w1"), ("BTC", "btc", "w2")],
        )
        cur.execute(
            "insert into eod.custody_balances_incoming values (%s, 'BTC', 'btc', 'w1', 10)",
            (str(capture),),
        )
    conn.close()
    with pytest.raises(ValidationFailed) as err:
        validate_custody(db, D, capture, tmp_path)
    assert "every_wallet_answered: 1 rows (first: currency=BTC coin=btc wallet_id=w2)" in str(
        err.value
    )
