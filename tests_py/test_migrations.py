"""`eod db migrate`: creates the schemas, is idempotent, upgrades an old platform database."""

from __future__ import annotations

import psycopg2

from eod.migrations import discover, migrate
from tests_py.conftest import run_eod

OLD_PLATFORM = """
create schema exchange;
create type exchange.account_status as enum ('active', 'suspended', 'banned');
create table exchange.users (user_id bigint primary key, status exchange.account_status not null);
insert into exchange.users values (1, 'active'), (2, 'suspended'), (3, 'banned');
"""


def _fetch(url, sql, params=None):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _schema_fingerprint(url):
    return _fetch(
        url,
        """select table_schema, table_name, column_name, data_type
           from information_schema.columns
           where table_schema in ('exchange', 'eod', 'marts')
           order by 1, 2, 3""",
    )


def test_migrate_twice_changes_nothing(empty_db_url):
    first = migrate(empty_db_url)
    assert first == [m.version for m in discover()]
    before = _schema_fingerprint(empty_db_url)
    recorded = _fetch(
        empty_db_url, "select version, checksum, applied_at from eod.schema_migrations"
    )
    assert migrate(empty_db_url) == []
    assert _schema_fingerprint(empty_db_url) == before
    assert (
        _fetch(empty_db_url, "select version, checksum, applied_at from eod.schema_migrations")
        == recorded
    )


def test_contract_tables_exist(db_url):
    tables = {
        (s, t)
        for s, t in _fetch(
            db_url,
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('exchange', 'eod')",
        )
    }
    for name in (
        "currencies",
        "users",
        "accounts",
        "ledger_entries",
        "trades",
        "mark_prices",
        "staking_positions",
        "revenue_router",
        "custody_wallets",
    ):
        assert ("exchange", name) in tables
    for name in ("me_balances", "custody_balances", "onchain_staking", "eod_runs"):
        assert ("eod", name) in tables
    money = _fetch(
        db_url,
        """select numeric_precision, numeric_scale from information_schema.columns
           where table_schema = 'exchange' and table_name = 'ledger_entries'
             and column_name = 'amount'""",
    )
    assert money == [(38, 18)]


def test_old_three_value_enum_is_extended_in_place(empty_db_url):
    with psycopg2.connect(empty_db_url) as conn, conn.cursor() as cur:
        cur.execute(OLD_PLATFORM)
    migrate(empty_db_url)
    labels = [
        row[0]
        for row in _fetch(
            empty_db_url,
            """select e.enumlabel from pg_enum e join pg_type t on t.oid = e.enumtypid
               join pg_namespace n on n.oid = t.typnamespace
               where n.nspname = 'exchange' and t.typname = 'account_status'
               order by e.enumsortorder""",
        )
    ]
    assert sorted(labels) == sorted(
        [
            "pending_kyc",
            "kyc_rejected",
            "kyc_approved",
            "active",
            "suspended",
            "restricted",
            "closed",
            "banned",
        ]
    )
    assert _fetch(empty_db_url, "select user_id, status::text from exchange.users order by 1") == [
        (1, "active"),
        (2, "suspended"),
        (3, "banned"),
    ]
    assert migrate(empty_db_url) == []


def test_cli_migrate_reports_up_to_date(eod_env):
    out = run_eod(["db", "migrate"], eod_env)
    assert "up to date" in out.stdout
