"""The dev kit's schema is the dev kit's: `eod db migrate` creates none of it, the
generator and the simulators create it where it is missing, and a database migrated
while the product still carried it migrates on cleanly."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import date

import psycopg2
import pytest

from eod.business_date import Cutover
from eod.devkit.generate import Options, generate
from eod.devkit.schema import SCHEMA_SQL, ensure_schema
from eod.devkit.simulators import start_simulators
from eod.devkit.simulators.export import export_snapshots
from eod.errors import InputError
from eod.migrations import migrate
from tests_py.conftest import run_eod

SMALL = ["--users", "40", "--days", "2", "--trades-per-day", "200"]
RETIRED = ("0010_simulator_schema", "0011_simulator_credit_index")
# What schema.sql creates: its schemas, and its tables and indexes by qualified name.
DEVKIT_SCHEMAS = re.findall(r"create schema if not exists (\w+)", SCHEMA_SQL.read_text())
DEVKIT_RELATIONS = re.findall(r"create table if not exists ([\w.]+)", SCHEMA_SQL.read_text()) + [
    f"{table.split('.')[0]}.{index}"
    for index, table in re.findall(
        r"create index if not exists (\w+)\s+on ([\w.]+)", SCHEMA_SQL.read_text()
    )
]


def _fetch(url, sql, params=None):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _devkit_objects(url) -> list[str]:
    schemas = _fetch(
        url, "select nspname from pg_namespace where nspname = any(%s)", (DEVKIT_SCHEMAS,)
    )
    relations = _fetch(
        url,
        "select name from unnest(%s::text[]) as name where to_regclass(name) is not null",
        (DEVKIT_RELATIONS,),
    )
    return sorted(r[0] for r in schemas + relations)


def _opts() -> Options:
    return Options(
        seed=2,
        users=40,
        days=2,
        trades_per_day=200,
        start=date(2026, 11, 1),
        cutover=Cutover.parse("00:00 UTC"),
        registry_days=2,
    )


def test_schema_sql_is_what_the_dev_kit_reads():
    assert DEVKIT_SCHEMAS == ["sim"]
    assert "sim.generation" in DEVKIT_RELATIONS
    assert "exchange.ledger_entries_engine_credits_idx" in DEVKIT_RELATIONS


def test_migrate_creates_nothing_for_the_dev_kit_and_generate_creates_it(empty_db_url, eod_env):
    env = dict(eod_env, EOD_DATABASE_URL=empty_db_url)
    run_eod(["db", "migrate"], env)
    assert _devkit_objects(empty_db_url) == []
    assert _fetch(
        empty_db_url,
        "select count(*) from eod.schema_migrations where version = any(%s)",
        (list(RETIRED),),
    ) == [(0,)]

    run_eod(["generate", *SMALL], env)
    assert _devkit_objects(empty_db_url) == sorted(DEVKIT_SCHEMAS + DEVKIT_RELATIONS)
    assert _fetch(empty_db_url, "select count(*) > 0 from sim.me_registry") == [(True,)]
    before = _fetch(empty_db_url, "select count(*) from exchange.ledger_entries")
    run_eod(["generate", *SMALL, "--reset"], env)
    assert _fetch(empty_db_url, "select count(*) from exchange.ledger_entries") == before
    assert "up to date" in run_eod(["db", "migrate"], env).stdout


def test_a_database_that_applied_the_retired_migrations_migrates_on(empty_db_url):
    migrate(empty_db_url)
    with psycopg2.connect(empty_db_url) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA_SQL.read_text())  # what 0010 and 0011 created
        cur.executemany(
            "insert into eod.schema_migrations (version, checksum) values (%s, 'retired')",
            [(v,) for v in RETIRED],
        )
    assert migrate(empty_db_url) == []
    assert [
        r[0]
        for r in _fetch(
            empty_db_url,
            "select version from eod.schema_migrations where version = any(%s) order by 1",
            (list(RETIRED),),
        )
    ] == list(RETIRED)

    result = generate(empty_db_url, _opts())
    assert result.counts["sim.me_registry"] > 0
    assert _fetch(empty_db_url, "select count(*) from sim.generation") == [(1,)]


def test_ensure_schema_twice_changes_nothing(db_url):
    for _ in range(2):
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            ensure_schema(cur)
    assert _devkit_objects(db_url) == sorted(DEVKIT_SCHEMAS + DEVKIT_RELATIONS)


def test_simulators_and_export_on_a_database_not_generated_into(db_url, tmp_path):
    assert _devkit_objects(db_url) == []
    with start_simulators(db_url) as sims:
        url = f"{sims.me_url}/v1/registry/snapshot?as_of=2026-11-02T00:00:00Z"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url)
        assert caught.value.code == 404
        assert "run eod generate" in json.loads(caught.value.read())["error"]
    with pytest.raises(InputError, match="no synthetic exchange was generated"):
        export_snapshots(db_url, tmp_path / "snapshots")
