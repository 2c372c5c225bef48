"""One close at a time: the advisory lock and the fencing token."""

from __future__ import annotations

import psycopg2
import pytest

from eod.close import leader
from eod.close.leader import NotLeader


def test_second_leader_is_refused_naming_the_holder(db_url):
    with leader.acquire(db_url) as first:
        with pytest.raises(NotLeader) as refused:
            leader.acquire(db_url, business_date="2026-11-02")
        message = str(refused.value)
        assert "for 2026-11-02" in message and "eod-close-leader" in message
        assert first.holder in message
    # released: the next election succeeds with a newer token
    with leader.acquire(db_url) as second:
        assert second.fencing_token == first.fencing_token + 1


def test_leader_that_lost_its_lock_cannot_commit(db_url):
    first = leader.acquire(db_url)
    pid = first.conn.get_backend_pid()
    with psycopg2.connect(db_url) as admin, admin.cursor() as cur:
        cur.execute("select pg_terminate_backend(%s)", (pid,))
    second = leader.acquire(db_url)
    try:
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            with pytest.raises(NotLeader, match="stale"):
                leader.check_fence(cur, first.fencing_token)
            conn.rollback()
            leader.check_fence(cur, second.fencing_token)
    finally:
        second.release()


def _take_over(db_url: str) -> leader.Leadership:
    """The running close's lock connection dies and another close is elected."""
    with psycopg2.connect(db_url) as admin, admin.cursor() as cur:
        cur.execute(
            """select pg_terminate_backend(pid) from pg_stat_activity
               where application_name like 'eod-close-leader %%'
                 and datname = current_database()"""
        )
        assert [row[0] for row in cur.fetchall()] == [True]
    return leader.acquire(db_url)


def test_a_deposed_close_writes_nothing_and_says_so_in_one_line(
    db_url, nats_url, monkeypatch, tmp_path, capsys
):
    """While a capture, a dbt build or the proof of reserves runs, the close's lock
    connection is killed and a new leader elected: the step's writes are refused by
    the fencing token inside their own transaction, and the close stops with one line.
    Once the new leader is gone, a close completes the date."""
    from eod.commands.close import close_date
    from eod.errors import EodError
    from flows import tasks
    from tests_py.close_fixtures import running_exchange

    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=1) as x:
        day = x.dates[0]

        def written(what: str) -> int:
            """D's rows in a relation (none when the build never created it)."""
            if x.scalar("select to_regclass(%s) is null", (what,)):
                return 0
            return x.scalar(f"select count(*) from {what} where business_date = %s", (day,))

        def deposed_during(name: str, written_by_it: list[str]) -> None:
            real = getattr(tasks, name)
            taken: list[leader.Leadership] = []

            def work(*args, **kwargs):
                taken.append(_take_over(db_url))
                return real(*args, **kwargs)

            monkeypatch.setattr(tasks, name, work)
            try:
                capsys.readouterr()
                with pytest.raises(EodError) as stopped:
                    close_date(day)
                message = str(stopped.value)
                assert message.startswith("close stopped: fencing token "), message
                assert "this close lost the lock" in message and "\n" not in message
                # the one line is all the close says (dbt prints its own errors)
                printed = capsys.readouterr().out.splitlines()
                assert [line for line in printed if line.startswith("2026-")] == []
                for what in written_by_it:
                    assert written(what) == 0, (name, what)
            finally:
                monkeypatch.setattr(tasks, name, real)
                for lead in taken:
                    lead.release()

        deposed_during("capture_registry_snapshot", ["eod.me_balances"])
        # the build alongside the registry's capture: its marts (and its tests' audit)
        deposed_during(
            "run_build", ["marts.fct_daily_fees", "marts.fct_fee_tiers", "audit.test_failures"]
        )
        # a deposed close records nothing: the step is left as it started
        assert x.fetch("select status from eod.eod_runs where step_name = 'dbt_build_trading'") == [
            ("running",)
        ]
        deposed_during("build_proof_of_reserves", ["marts.proof_of_reserves"])
        assert close_date(day) == 0
        assert written("marts.proof_of_reserves") > 0
