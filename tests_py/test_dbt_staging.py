"""`eod dbt build -s staging` on a generated exchange, as a data engineer runs it."""

from __future__ import annotations

from datetime import date

import psycopg2

from eod.business_date import Cutover
from eod.devkit.generate import Options, generate
from tests_py.conftest import run_eod


def test_staging_builds_on_generated_data(eod_env, db_url, tmp_path):
    generate(
        db_url,
        Options(
            seed=5,
            users=60,
            days=2,
            trades_per_day=100,
            start=date(2026, 11, 1),
            cutover=Cutover.parse("00:00 UTC"),
            registry_days=2,
        ),
    )
    proc = run_eod(
        ["dbt", "build", "-s", "staging", "--target-path", str(tmp_path / "target")],
        {**eod_env, "EOD_POR_SECRET": "k"},
    )
    assert "ERROR=0" in proc.stdout and "PASS=" in proc.stdout
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        for view, table in (
            ("stg_exchange__trades", "exchange.trades"),
            ("stg_exchange__ledger_entries", "exchange.ledger_entries"),
            ("stg_exchange__users", "exchange.users"),
        ):
            cur.execute(f"select (select count(*) from staging.{view}), count(*) from {table}")
            staged, source = cur.fetchone()
            assert staged == source > 0, view
        cur.execute(
            "select count(*) from staging.stg_exchange__trades where quote_amount <> price * qty"
        )
        assert cur.fetchone() == (0,)
