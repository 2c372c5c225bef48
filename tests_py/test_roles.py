"""Least privilege: what the close runner and the AdminService's role may and may not do."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from eod.por_key import store_por_key


def _as(db_url, role):
    conn = psycopg2.connect(db_url)
    with conn.cursor() as cur:
        cur.execute("insert into exchange.currencies values ('BTC', 8, 0) on conflict do nothing")
        cur.execute(
            "insert into exchange.users (user_id, status) values (1, 'active') "
            "on conflict do nothing"
        )
        cur.execute(f"set role {role}")
    return conn


def _journal(cur, reference_id):
    journal = str(uuid.uuid4())
    cur.execute(
        """insert into exchange.ledger_entries (journal_id, user_id, account, currency, amount,
               reference_type, reference_id, business_date, effective_at, created_by)
           values (%s, 1, 'user', 'BTC', -1, 'fee_journal', %s, '2026-11-01', now(), 'eod'),
                  (%s, null, 'house:fee_revenue', 'BTC', 1, 'fee_journal', %s, '2026-11-01',
                   now(), 'eod')""",
        (journal, reference_id, journal, reference_id),
    )


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("eod_runner", "update exchange.ledger_entries set amount = 0"),
        ("eod_runner", "update exchange.users set created_at = now()"),
        ("eod_admin", "update exchange.users set user_id = 2"),
        ("eod_runner", "select inner_pad from eod.por_key"),
        ("eod_runner", "delete from exchange.trades"),
        ("eod_admin", "select * from marts.recon_summary"),
        ("eod_admin", "delete from eod.me_balances"),
        ("eod_admin", "insert into eod.por_key values (2, '', '')"),
        ("finance_reader", "select * from exchange.ledger_entries"),
    ],
)
def test_refused(db_url, role, statement):
    conn = _as(db_url, role)
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as refused:
            cur.execute(statement)
        assert refused.value.pgcode in ("42501", "42P01")  # insufficient privilege / hidden
    finally:
        conn.close()


@pytest.mark.parametrize("role", ["eod_runner", "eod_admin"])
def test_a_direct_status_change_is_the_state_machines_to_refuse(db_url, role):
    """The services may lock an account's row to check a transition (UPDATE on status);
    a change that does not come through the machine, with an actor and a reason, is
    refused by its trigger."""
    conn = _as(db_url, role)
    try:
        with conn.cursor() as cur:
            cur.execute("select status from exchange.users where user_id = 1 for update")
            with pytest.raises(psycopg2.errors.CheckViolation, match="needs an actor"):
                cur.execute("update exchange.users set status = 'banned'")
    finally:
        conn.close()


def test_runner_posts_freezes_and_stores_the_key(db_url):
    conn = _as(db_url, "eod_runner")
    try:
        with conn.cursor() as cur:
            _journal(cur, "2026-11-01:1:BTC")
            cur.execute("select exchange.transition_account(1, 'suspended', 'eod', 'break')")
            store_por_key(conn, "secret-1")
            store_por_key(conn, "secret-2")  # replacing the key is an upsert on key_id
            cur.execute("select count(*) from exchange.ledger_entries")
            assert cur.fetchone() == (2,)
        conn.commit()
    finally:
        conn.close()


def test_admin_adjusts_and_transitions(db_url):
    conn = _as(db_url, "eod_admin")
    try:
        with conn.cursor() as cur:
            _journal(cur, "k-1")
            cur.execute("select exchange.transition_account(1, 'restricted', 'alice', 'review')")
            cur.execute("select status::text from exchange.users where user_id = 1")
            assert cur.fetchone() == ("restricted",)
        conn.commit()
    finally:
        conn.close()


def test_runner_analyses_a_landed_capture_without_owning_it(db_url):
    conn = _as(db_url, "eod_runner")
    try:
        with conn.cursor() as cur:
            cur.execute(
                """insert into eod.me_balances
                   values ('2026-11-01', 1, 'BTC', 1, 0, 1, '2026-11-02T00:00:00Z', 1)"""
            )
            cur.execute("select eod.analyze_me_balances()")
        conn.commit()
    finally:
        conn.close()
    with psycopg2.connect(db_url) as admin, admin.cursor() as cur:
        cur.execute(
            """select reltuples from pg_class
               where oid = 'eod.me_balances'::regclass"""
        )
        assert cur.fetchone() == (1.0,)
