"""The close end to end: real Postgres, NATS, dbt and Prefect, simulators over HTTP.

Expected values are computed here from the platform tables with the contract's rules,
not read back from the marts.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from eod.commands.close import close_date
from eod.errors import EodError
from eod.paging import undelivered_pages
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


def _assert_fee_journal_posted(x, day):
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


def _assert_close_floor_agrees(x, day):
    """The close bench's same-work floor is a second implementation of the close: the
    fee journal it posts (rolled back) is the one the close posted, and it makes a leaf
    for every snapshot row."""
    from eod.business_date import Cutover
    from eod.db import connect
    from eod.devkit.bench.floors import CLOSE_SAME_WORK

    start, end = Cutover.parse("00:00 UTC").window(day)
    conn = connect(x.db_url)
    try:
        with conn.cursor() as cur:
            for query in CLOSE_SAME_WORK.values():
                cur.execute(query, {"day": day, "start": start, "end": end})
            cur.execute(
                """select user_id, currency, amount from exchange.ledger_entries
                   where created_by = 'floor' and account = 'user'"""
            )
            floor_legs = {(u, c): Decimal(a) for u, c, a in cur.fetchall()}
            cur.execute("select count(*), count(leaf_hash) from s_snapshots")
            leaves = cur.fetchone()
            cur.execute(
                "select count(*) from marts.user_balance_snapshots where business_date = %s",
                (day,),
            )
            snapshots = cur.fetchone()[0]
    finally:
        conn.rollback()
        conn.close()
    assert floor_legs == _posted_fee_legs(x, day)
    assert leaves == (snapshots, snapshots) and snapshots > 0


def test_close_clean_day_then_broken_day(db_url, nats_url, monkeypatch, tmp_path):
    """Day 1 is clean; day 2 has an engine drift for two users, a BTC custody drift of
    0.05 BTC and an on-chain staking drift of 7 units. One exchange, three closes."""
    faults = {"break_ledger": 2, "custody_drift": {"BTC": 5_000_000}, "staking_drift": 7}
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=2, **faults) as x:
        first, last = x.dates
        drifted = _drifted_pairs(x, last)
        assert len({u for u, _ in drifted}) == 2
        assert _drifted_pairs(x, first) == []

        # day 1: every step succeeds, the fee journal is posted exactly, nothing breaks
        assert close_date(first) == 0
        _assert_fee_journal_posted(x, first)
        _assert_close_floor_agrees(x, first)
        assert (
            x.scalar(
                "select count(*) from marts.recon_me_ledger where business_date = %s", (first,)
            )
            == 0
        )
        assert x.fetch(
            "select distinct status from eod.eod_runs where business_date = %s", (first,)
        ) == [("succeeded",)]
        assert x.pager.events == []

        # day 2, the pager down: breaks are found, the two users are frozen whatever
        # the pager does, and the pages wait in their outbox
        x.pager.mode = "down"
        assert close_date(last) == 1
        assert x.pager.events == []
        assert [line.split(", oldest")[0] for line in undelivered_pages(x.db_url)] == [
            "pager: 3 page(s) not yet accepted"
        ]
        _assert_fee_journal_posted(x, last)
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
        assert x.fetch(
            "select currency from marts.recon_custody where business_date = %s and is_break",
            (last,),
        ) == [("BTC",)]
        assert x.fetch(
            "select difference from marts.recon_staking where business_date = %s", (last,)
        ) == [(Decimal("7E-18"),)]

        # the pager is back: the next run delivers each check's page once (same key on
        # every attempt), runs no succeeded step again and adds nothing
        x.pager.mode = "up"
        x.fetch("update eod.page_outbox set next_attempt_at = now() returning 1")
        ledger_rows = x.scalar("select count(*) from exchange.ledger_entries")
        attempts = x.fetch("select step_name, attempts from eod.eod_runs order by 1, 2")
        assert close_date(last) == 1
        assert x.scalar("select count(*) from exchange.ledger_entries") == ledger_rows
        assert x.fetch("select step_name, attempts from eod.eod_runs order by 1, 2") == attempts
        assert undelivered_pages(x.db_url) == []
        by_check = {}
        for event in x.pager.events:
            by_check.setdefault(event["dedup_key"], []).append(event)
        assert len(by_check) == 3 and all(len(v) == 1 for v in by_check.values())
        me_page = next(v[0] for k, v in by_check.items() if "me_ledger" in k)
        assert str(last) in me_page["payload"]["summary"]
        assert me_page["payload"]["custom_details"]["breaks"] == len(drifted)

        # the attempt made while the pager was down carried one of the same keys
        assert len(x.pager.attempts) == 4
        assert {a["dedup_key"] for a in x.pager.attempts} == set(by_check)
        # a re-run pages nothing new
        assert close_date(last) == 1
        assert len(x.pager.events) == 3

        # every event went through the outbox and was relayed to JetStream
        subjects = dict(x.fetch("select subject, count(*) from eod.outbox group by 1"))
        for per_day in (
            "eod.snapshot.completed",
            "eod.close.completed",
            "eod.dbt_build.started",
            "eod.dbt_build.completed",
        ):
            assert subjects[per_day] == 2, per_day
        assert subjects["eod.recon.failed"] == 3 and subjects["eod.alert"] == 3
        assert subjects["account.suspended"] == 2
        assert x.scalar("select count(*) from eod.outbox where published_at is null") == 0


def _nothing_posted(x):
    assert x.scalar("select count(*) from exchange.ledger_entries where created_by = 'eod'") == 0
    assert x.scalar("select count(*) from eod.me_balances") == 0


def test_bad_captures_fail_the_close_until_fixed(db_url, nats_url, monkeypatch, tmp_path):
    """Each bad input fails the close in one line, pages, and writes nothing; once the
    source is fixed the failed step re-runs and the close completes."""
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=1) as x:
        day = x.dates[0]
        engine_faults = {
            "malformed": "line",
            "negative": "non_negative",
            "duplicate": "unique_user_currency",
            "unknown-currency": "known_currency",
        }
        for fault, says in engine_faults.items():
            x.sims.me_fault = fault
            with pytest.raises(EodError, match="capture_registry") as failed:
                close_date(day)
            message = str(failed.value)
            assert "\n" not in message and says in message, (fault, message)
            _nothing_posted(x)
        x.sims.me_fault = None

        monkeypatch.setenv("EOD_CUSTODY_TOKEN", "not-the-token")
        with pytest.raises(EodError, match="capture_custody.*401"):
            close_date(day)
        monkeypatch.setenv("EOD_CUSTODY_TOKEN", x.sims.custody_token)
        x.sims.custody_fail = True
        with pytest.raises(EodError, match="capture_custody.*500"):
            close_date(day)
        assert (
            x.scalar("select count(*) from exchange.ledger_entries where created_by = 'eod'") == 0
        )
        assert x.scalar("select count(*) from eod.custody_balances") == 0
        x.sims.custody_fail = False

        pages = {e["dedup_key"] for e in x.pager.events}
        assert any("step:capture_registry" in k for k in pages)
        assert any("step:capture_custody" in k for k in pages)
        assert close_date(day) == 0
        assert x.fetch(
            "select step_name, attempts from eod.eod_runs where step_name like 'capture_%%' "
            "order by 1"
        ) == [("capture_custody", 3), ("capture_registry", 5), ("capture_staking", 1)]


def test_crash_between_posting_and_recording_reposts_nothing(
    db_url, nats_url, monkeypatch, tmp_path
):
    """The fee journal and its step record commit together: a close that dies before the
    record commits leaves no posting behind, and the re-run posts the journal once."""
    from eod.close import steps

    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=1) as x:
        day = x.dates[0]
        real_succeed = steps.StepLedger.succeed

        def dies_after_posting(self, cur, step, detail):
            if step == "post_fee_journal":
                cur.execute(
                    "select count(*) from exchange.ledger_entries"
                    " where reference_type = 'fee_journal'"
                )
                assert cur.fetchone()[0] > 0  # the legs are written in this transaction
                raise RuntimeError("killed between posting and recording")
            return real_succeed(self, cur, step, detail)

        monkeypatch.setattr(steps.StepLedger, "succeed", dies_after_posting)
        with pytest.raises(EodError, match="post_fee_journal"):
            close_date(day)
        assert (
            x.scalar(
                "select count(*) from exchange.ledger_entries where reference_type = 'fee_journal'"
            )
            == 0
        )
        monkeypatch.setattr(steps.StepLedger, "succeed", real_succeed)
        assert close_date(day) == 0
        _assert_fee_journal_posted(x, day)


def test_a_step_over_its_time_limit_stops_the_close(db_url, nats_url, monkeypatch, tmp_path):
    """A blocking step is stopped from outside: failed with reason `timeout`, its query
    cancelled, on-call paged, and no later step runs."""
    import flows.eod_close as close_flow
    from eod.db import connect

    def stuck_capture(res, ledger, name):
        ledger.start(name)
        conn = connect(res.database_url)
        with conn.cursor() as cur:
            cur.execute("select pg_sleep(120)")

    stages = tuple(
        tuple((name, stuck_capture if name == "capture_registry" else step) for name, step in stage)
        for stage in close_flow.STAGES
    )
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=1) as x:
        monkeypatch.setattr(close_flow, "STAGES", stages)
        monkeypatch.setenv("EOD_STEP_TIMEOUT_S", "3")
        with pytest.raises(EodError, match="timeout"):
            close_date(x.dates[0])
        # the build that runs alongside the capture may finish or time out itself;
        # nothing after their stage runs
        steps = dict(
            x.fetch(
                "select step_name, status || ':' || coalesce(detail->>'reason', '')"
                " from eod.eod_runs"
            )
        )
        assert steps.pop("capture_registry") == "failed:timeout"
        assert set(steps) <= {"dbt_build_trading"}
        assert (
            x.scalar(
                "select count(*) from pg_stat_activity where query like 'select pg_sleep(120)%%'"
                " and pid <> pg_backend_pid()"
            )
            == 0
        )
        assert f"eod/{x.dates[0]}/step:capture_registry" in [e["dedup_key"] for e in x.pager.events]


def test_a_catch_up_date_with_a_break_fails_the_close(
    db_url, nats_url, monkeypatch, tmp_path, capsys
):
    """Closing the third day catches up on the second, whose custody drifted: the
    third is clean, yet the close exits non-zero, with one line per date."""
    from datetime import timedelta

    from tests_py.close_fixtures import START

    drift = {"custody_drift": {"BTC": 5_000_000}, "fault_date": START + timedelta(days=1)}
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=3, **drift) as x:
        first, broken, last = x.dates
        assert close_date(first) == 0
        capsys.readouterr()
        assert close_date(last) == 1
        # dbt's own failure lines go to stdout too; the close's are one per date
        printed = capsys.readouterr().out.splitlines()
        assert [line for line in printed if line.startswith("2026-")] == [
            f"{broken}  closed, checks broke: custody",
            f"{last}  closed, all checks passed",
        ]
