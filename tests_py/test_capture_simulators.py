"""The capture clients against the matching-engine, custody and JSON-RPC simulators
over HTTP, compared with what the generator stored for the simulators to serve."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from eod.capture import capture_custody, capture_registry, capture_staking
from eod.capture import http as capture_http
from eod.config import Settings
from eod.devkit.generate import Options, generate
from eod.devkit.simulators import start_simulators
from eod.errors import InputError, ServiceError
from eod.validation import ValidationFailed
from tests_py.capture_fixtures import query

START = date(2026, 5, 1)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(capture_http, "BACKOFF_S", 0.01)


@pytest.fixture
def exchange(db_url, tmp_path):
    base = Settings.from_env()
    opts = Options(
        seed=5,
        users=40,
        days=2,
        trades_per_day=80,
        start=START,
        cutover=base.cutover,
        registry_days=2,
    )
    generate(db_url, opts)
    sims = start_simulators(db_url)
    settings = dataclasses.replace(
        base,
        me_url=sims.me_url,
        custody_url=sims.custody_url,
        custody_token=sims.custody_token,
        staking_rpc_url=sims.rpc_url,
        staking_pool_address=sims.pool_address,
        state_dir=tmp_path / "state",
    )
    try:
        yield db_url, sims, settings, opts.dates
    finally:
        sims.stop()


def test_registry_custody_and_staking_match_what_the_simulators_serve(exchange):
    db_url, _, settings, dates = exchange
    for day in dates:
        summary = capture_registry(db_url, day, settings)
        expected = query(
            db_url,
            """select user_id, currency, total, locked, available from sim.me_registry
               where business_date = %s order by user_id, currency""",
            (day,),
        )
        landed = query(
            db_url,
            """select user_id, currency, total, locked, available from eod.me_balances
               where business_date = %s order by user_id, currency""",
            (day,),
        )
        assert landed == expected and summary["rows"] == len(expected) > 0
        [(sequence,)] = query(
            db_url, "select sequence from sim.me_snapshots where business_date = %s", (day,)
        )
        assert summary["sequence"] == sequence

    last = dates[-1]
    capture_staking(db_url, last, settings)
    assert query(
        db_url,
        "select total_staked_units from eod.onchain_staking where business_date = %s",
        (last,),
    ) == query(
        db_url, "select total_units from sim.onchain_staked where business_date = %s", (last,)
    )


def test_staking_backfill_reads_that_dates_total(exchange):
    db_url, _, settings, dates = exchange
    stored = dict(query(db_url, "select business_date, total_units from sim.onchain_staked"))
    assert stored[dates[0]] != stored[dates[-1]]  # else the test could not tell them apart
    capture_registry(db_url, dates[-1], settings)  # the chain's head is past the last date
    for day in (dates[0], dates[-1], dates[0]):
        capture_staking(db_url, day, settings)
        assert query(
            db_url,
            "select total_staked_units from eod.onchain_staking where business_date = %s",
            (day,),
        ) == [(stored[day],)]


CUSTODY_LANDED = """
    select currency, coin, wallet_id, balance_units from eod.custody_balances
    where business_date = %s and balance_units < 2 ^ 53 order by currency, wallet_id
"""
CUSTODY_STORED = """
    select currency, coin, wallet_id, balance_units from sim.custody_wallet_balances
    where business_date = %s and balance_units < 2 ^ 53 order by currency, wallet_id
"""


def test_custody_matches_what_the_simulator_stores(exchange):
    db_url, _, settings, dates = exchange
    last = dates[-1]
    capture_registry(db_url, last, settings)  # custody answers as of the last snapshot served
    summary = capture_custody(db_url, last, settings)
    stored = query(db_url, CUSTODY_STORED, (last,))
    assert query(db_url, CUSTODY_LANDED, (last,)) == stored and stored
    assert (
        summary["wallets"]
        == query(
            db_url,
            "select count(*) from sim.custody_wallet_balances where business_date = %s",
            (last,),
        )[0][0]
    )


def test_custody_large_balances_are_exact(exchange):
    db_url, _, settings, dates = exchange
    last = dates[-1]
    capture_registry(db_url, last, settings)
    capture_custody(db_url, last, settings)
    everything = CUSTODY_LANDED.replace("and balance_units < 2 ^ 53", "")
    assert query(db_url, everything, (last,)) == query(
        db_url, CUSTODY_STORED.replace("and balance_units < 2 ^ 53", ""), (last,)
    )


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        ("malformed", InputError, "malformed JSON"),
        ("negative", ValidationFailed, "non_negative"),
        ("duplicate", ValidationFailed, "unique_user_currency"),
        ("unknown-currency", ValidationFailed, "known_currency"),
    ],
)
def test_engine_faults_fail_the_capture_and_write_nothing(exchange, fault, error, text):
    db_url, sims, settings, dates = exchange
    sims.me_fault = fault
    with pytest.raises(error) as err:
        capture_registry(db_url, dates[-1], settings)
    assert text in str(err.value) and "\n" not in str(err.value)
    assert query(db_url, "select count(*) from eod.me_balances") == [(0,)]


def test_custody_failures(exchange):
    db_url, sims, settings, dates = exchange
    wrong = dataclasses.replace(settings, custody_token="not-the-token")
    with pytest.raises(ServiceError, match="HTTP 401") as err:
        capture_custody(db_url, dates[-1], wrong)
    assert "not-the-token" not in str(err.value)
    sims.custody_fail = True
    with pytest.raises(ServiceError, match="failed after 3 tries .*HTTP 500"):
        capture_custody(db_url, dates[-1], settings)
    assert query(db_url, "select count(*) from eod.custody_balances") == [(0,)]
