"""The close end to end: real Postgres, NATS, dbt and Prefect, simulators over HTTP.

Expected values are computed here from the platform tables with the contract's rules,
not read back from the marts.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from eod.commands.close import run_close
from eod.errors import EodError
from tests_py.close_fixtures import running_exchange

WINDOW = "executed_at >= %s::date::timestamptz and executed_at < (%s::date + 1)::timestamptz"


def _fees_by_user(x, day):
    """Fees the engine took on `day` per (user, currency), from the trades (00:00 UTC cutover)."""
    rows = x.fetch(
        f"""select user_id, fee_currency, sum(fee) from (
                select maker_user_id as user_id, fee_currency, maker_fee as fee
                from exchange.trades where {WINDOW}
                union all
                select taker_user_id, fee_currency, taker_fee
                from exchange.trades where {WINDOW}) f
            group by 1, 2 having sum(fee) <> 0""",
        (day, day, day, day),
    )
    return {(u, c): Decimal(f) for u, c, f in rows}


def _posted_fee_legs(x, day):
    rows = x.fetch(
        """select user_id, currency, amount from exchange.ledger_entries
           where reference_type = 'fee_journal' and business_date = %s and account = 'user'""",
        (day,),
    )
    return {(u, c): Decimal(a) for u, c, a in rows}


def test_clean_close_posts_fees_once_and_reconciles(db_url, nats_url, monkeypatch, tmp_path):
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path) as x:
        first, last = x.dates[0], x.dates[-1]
        assert run_close(first) == 0
        assert run_close(last) == 0  # catches up nothing: the dates are consecutive

        for day in x.dates:
            expected = _fees_by_user(x, day)
            assert expected, "the generated days have trades"
            assert _posted_fee_legs(x, day) == {k: -v for k, v in expected.items()}
            house = x.fetch(
                """select currency, sum(amount) from exchange.ledger_entries
                   where reference_type = 'fee_journal' and business_date = %s
                     and account = 'house:fee_revenue' group by 1""",
                (day,),
            )
            per_currency: dict[str, Decimal] = {}
            for (_, currency), fee in expected.items():
                per_currency[currency] = per_currency.get(currency, Decimal(0)) + fee
            assert {c: Decimal(a) for c, a in house} == per_currency
            assert (
                x.scalar(
                    "select count(*) from marts.recon_me_ledger where business_date = %s", (day,)
                )
                == 0
            )
        steps = x.fetch("select distinct status from eod.eod_runs")
        assert steps == [("succeeded",)]
        assert x.pager.events == []

        ledger_rows = x.scalar("select count(*) from exchange.ledger_entries")
        attempts = x.fetch("select step_name, attempts from eod.eod_runs order by 1, 2")
        # re-running adds nothing and runs no succeeded step again
        assert run_close(last) == 0
        assert x.scalar("select count(*) from exchange.ledger_entries") == ledger_rows
        assert x.fetch("select step_name, attempts from eod.eod_runs order by 1, 2") == attempts


def _drifted_pairs(x, day):
    """(user, currency) whose engine total differs from ledger minus fees, recomputed here."""
    rows = x.fetch(
        """with ledger as (
               select user_id, currency, sum(amount) as amount from exchange.ledger_entries
               where account = 'user' and reference_type <> 'fee_journal'
                 and effective_at < (%s::date + 1)::timestamptz
               group by 1, 2),
           fees as (
               select user_id, fee_currency as currency, sum(fee) as fee from (
                   select maker_user_id as user_id, fee_currency, maker_fee as fee
                   from exchange.trades where executed_at < (%s::date + 1)::timestamptz
                   union all
                   select taker_user_id, fee_currency, taker_fee from exchange.trades
                   where executed_at < (%s::date + 1)::timestamptz) f
               group by 1, 2)
           select r.user_id, r.currency
           from sim.me_registry r
           left join ledger l using (user_id, currency)
           left join fees f using (user_id, currency)
           where r.business_date = %s
             and r.total <> coalesce(l.amount, 0) - coalesce(f.fee, 0)
           order by 1, 2""",
        (day, day, day, day),
    )
    return rows


def test_engine_break_freezes_the_user_and_pages_once(db_url, nats_url, monkeypatch, tmp_path):
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, break_ledger=2) as x:
        first, last = x.dates[0], x.dates[-1]
        drifted = _drifted_pairs(x, last)
        assert len({u for u, _ in drifted}) == 2
        assert run_close(first) == 0
        assert run_close(last) == 1
        breaks = x.fetch(
            "select user_id, currency from marts.recon_me_ledger where business_date = %s "
            "order by 1, 2",
            (last,),
        )
        assert breaks == drifted
        for user_id in {u for u, _ in drifted}:
            status, actor, reason = x.fetch(
                """select u.status::text, t.actor, t.reason from exchange.users u
                   join exchange.account_state_transitions t using (user_id)
                   where user_id = %s order by t.transition_id desc limit 1""",
                (user_id,),
            )[0]
            assert (status, actor) == ("suspended", "eod")
            assert str(last) in reason and "ledger break" in reason
        pages = [e for e in x.pager.events if "me_ledger" in e["dedup_key"]]
        assert len(pages) == 1
        assert str(last) in pages[0]["payload"]["summary"]
        assert pages[0]["payload"]["custom_details"]["breaks"] == len(drifted)
        # a re-run of the broken date keeps its outcome and pages nothing new
        assert run_close(last) == 1
        assert len([e for e in x.pager.events if "me_ledger" in e["dedup_key"]]) == 1


@pytest.mark.parametrize(
    ("fault", "check"),
    [({"custody_drift": {"BTC": 5_000_000}}, "custody"), ({"staking_drift": 7}, "staking")],
)
def test_custody_and_staking_drift_page(db_url, nats_url, monkeypatch, tmp_path, fault, check):
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=1, **fault) as x:
        day = x.dates[0]
        assert run_close(day) == 1
        pages = [e for e in x.pager.events if check in e["dedup_key"]]
        assert len(pages) == 1
        table = {"custody": "recon_custody", "staking": "recon_staking"}[check]
        assert (
            x.scalar(
                f"select count(*) from marts.{table} where business_date = %s and is_break", (day,)
            )
            == 1
        )


def test_bad_capture_fails_the_close_and_posts_nothing(db_url, nats_url, monkeypatch, tmp_path):
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=1) as x:
        x.sims.me_fault = "negative"
        with pytest.raises(EodError, match="capture_registry"):
            run_close(x.dates[0])
        assert (
            x.scalar("select count(*) from exchange.ledger_entries where created_by = 'eod'") == 0
        )
        assert x.scalar("select count(*) from eod.me_balances") == 0
        assert x.fetch(
            "select step_name, status from eod.eod_runs where status <> 'succeeded'"
        ) == [("capture_registry", "failed")]
        assert any("step:capture_registry" in e["dedup_key"] for e in x.pager.events)
