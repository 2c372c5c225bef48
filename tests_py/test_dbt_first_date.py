"""The first date of the close chain reaches the models as the `first_business_date`
var: dbt parses and compiles without asking the warehouse which dates were closed, and
the close and `eod dbt` set the var from the database."""

from __future__ import annotations

import json
import os
from datetime import date

import psycopg2
import pytest

from eod.close.dbt_build import build_args
from eod.config import PROJECT_DIR
from eod.dbt import chain_first_date, prepare_env, with_first_business_date

D = date(2026, 3, 5)
ONLY_D = '{"business_date": "2026-03-05"}'
WITH_FIRST = '{"business_date": "2026-03-05", "first_business_date": "2026-03-02"}'


def _dbt(args: list[str], database_url: str):
    """Plain dbt (no first date added), in this process, from the project root."""
    from dbt.cli.main import dbtRunner

    os.environ.update(prepare_env(database_url))
    cwd = os.getcwd()
    os.chdir(PROJECT_DIR)
    try:
        return dbtRunner().invoke(["--quiet", *args])
    finally:
        os.chdir(cwd)


def _compiled(result, name: str) -> str:
    return next(r.node.compiled_code for r in result.result.results if r.node.name == name)


def test_parse_and_compile_need_no_closed_date(db_url, tmp_path):
    """An empty, migrated database: no model, no close. dbt parses, compiles every
    node, and compiles D as the chain's first date or as a carried date as the var
    says, with nothing in the warehouse to tell them apart."""
    target = ["--target-path", str(tmp_path / "target")]
    parsed = _dbt(["parse", *target], db_url)
    assert parsed.success, parsed.exception

    first = _dbt(["compile", "--vars", ONLY_D, *target], db_url)
    assert first.success, first.exception
    legs = _compiled(first, "int_trade_legs_split")
    assert "'-infinity'::timestamptz" in legs  # the whole trade history, once

    carried_vars = {"business_date": "2026-03-05", "first_business_date": "2026-03-01"}
    carried = _dbt(
        [
            "compile",
            "--select",
            "int_trade_legs_split",
            "int_business_dates_windowed",
            "fct_daily_pnl",
            "--vars",
            json.dumps(carried_vars),
            *target,
        ],
        db_url,
    )
    assert carried.success, carried.exception
    assert "'-infinity'::timestamptz" not in _compiled(carried, "int_trade_legs_split")
    assert "false as is_first_close" in _compiled(carried, "int_business_dates_windowed")
    # D-1's positions are read from the mart itself, which does not exist yet
    assert "business_date = '2026-03-05'::date - 1" in _compiled(carried, "fct_daily_pnl")


def test_a_first_date_after_the_business_date_is_refused(db_url, tmp_path):
    result = _dbt(
        [
            "compile",
            "--select",
            "int_business_dates_windowed",
            "--vars",
            json.dumps({"business_date": "2026-03-01", "first_business_date": "2026-03-02"}),
            "--target-path",
            str(tmp_path),
        ],
        db_url,
    )
    assert not result.success
    assert "before the first date of the close chain" in str(result.result or result.exception)


def _record_run(url: str, day: date) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into eod.eod_runs (business_date, step_name, status, attempts, started_at)
               values (%s, 'close', 'succeeded', 1, now())""",
            (day,),
        )


def test_the_chain_starts_at_the_first_date_closed_or_d(db_url):
    assert chain_first_date(db_url, D) == D  # nothing closed: D starts the chain
    _record_run(db_url, date(2026, 3, 2))
    _record_run(db_url, date(2026, 3, 3))
    assert chain_first_date(db_url, D) == date(2026, 3, 2)
    assert chain_first_date(db_url, date(2026, 3, 1)) == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["build", "--vars", ONLY_D], ["build", "--vars", WITH_FIRST]),
        (
            ["run", "--vars=business_date: 2026-03-05", "-s", "x"],
            ["run", f"--vars={WITH_FIRST}", "-s", "x"],
        ),
        # a first date given, no business date, no vars, a malformed date: left as they are
        (["build", "--vars", WITH_FIRST.replace("03-02", "03-04")], None),
        (["build", "--vars", '{"other": 1}'], None),
        (["build", "-s", "staging"], None),
        (["build", "--vars", '{"business_date": "soon"}'], None),
    ],
)
def test_eod_dbt_adds_the_first_date(db_url, args, expected):
    _record_run(db_url, date(2026, 3, 2))
    assert with_first_business_date(args, db_url) == (expected or args)


def test_the_close_passes_the_first_date():
    args = build_args(D, date(2026, 3, 1), "target")
    vars_ = json.loads(args[args.index("--vars") + 1])
    assert vars_ == {"business_date": "2026-03-05", "first_business_date": "2026-03-01"}
