"""The close builds D in two parts (eod.close.dbt_build): together they must be the
whole project, each node once, so that nothing is skipped or built twice."""

from __future__ import annotations

import json

from eod.close.dbt_build import AFTER_CAPTURES, BEFORE_CAPTURES, WHOLE_PROJECT
from tests_py.conftest import run_eod

_BUILT = ["--resource-types", "model", "seed", "snapshot", "test"]


def _listed(part: tuple[str, ...], env, target) -> list[str]:
    vars_ = json.dumps({"business_date": "2026-11-02"})
    proc = run_eod(
        [
            "dbt",
            "ls",
            "--quiet",
            *part,
            *_BUILT,
            "--output",
            "name",
            "--vars",
            vars_,
            "--target-path",
            str(target),
        ],
        env,
    )
    return proc.stdout.split()


def test_the_two_parts_partition_the_build(eod_env, tmp_path):
    whole = _listed(WHOLE_PROJECT, eod_env, tmp_path)
    before = _listed(BEFORE_CAPTURES, eod_env, tmp_path)
    after = _listed(AFTER_CAPTURES, eod_env, tmp_path)
    assert sorted(before + after) == sorted(whole)
    assert not set(before) & set(after)
    # the captures' side: snapshots and the reconciliations with their tests
    assert {"user_balance_snapshots", "recon_me_ledger", "assert_me_matches_ledger"} <= set(after)
    # built while the registry streams: nothing that reads a capture
    assert {"fct_daily_pnl", "fct_fee_journal", "fee_tier_history"} <= set(before)
    assert not [name for name in before if "capture" in name]


def test_a_background_parse_is_the_one_the_build_uses(db_url, tmp_path, monkeypatch):
    """The close parses the project while Prefect starts; the build that follows finds
    the parsed project and does not parse again."""
    from dbt.cli.main import dbtRunner

    from eod import dbt

    target = str(tmp_path / "target")
    dbt.parse_in_background(db_url, target).join(timeout=120)

    real_invoke = dbtRunner.invoke

    def no_second_parse(self, args, **kwargs):
        assert "parse" not in args, "the project was parsed again"
        return real_invoke(self, args, **kwargs)

    monkeypatch.setattr(dbtRunner, "invoke", no_second_parse)
    runner = dbt.parsed_runner(db_url, target)
    assert runner.manifest is not None
    assert (tmp_path / "target" / "partial_parse.msgpack").exists()


def test_a_failed_model_is_named_with_the_databases_reason(db_url, tmp_path, monkeypatch):
    """A statement timeout fails the build in one line naming the model and the
    timeout (the table the model reads is held locked, so its statement must wait)."""
    from datetime import date

    import psycopg2
    import pytest

    from eod.close.dbt_build import DbtBuildFailed, run_build

    monkeypatch.setenv("EOD_DBT_TARGET_PATH", str(tmp_path / "target"))
    day = date(2026, 11, 2)
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select current_database()")
        cur.execute(f'alter database "{cur.fetchone()[0]}" set statement_timeout = 500')
    holder = psycopg2.connect(db_url)
    try:
        with holder.cursor() as cur:
            cur.execute("lock table exchange.trades in access exclusive mode")
        with pytest.raises(DbtBuildFailed) as failed:
            run_build(db_url, day, ("--select", "stg_exchange__trades"), first_business_date=day)
    finally:
        holder.rollback()
        holder.close()
    assert str(failed.value) == (
        "model stg_exchange__trades: canceling statement due to statement timeout"
    )


def test_no_unlogged_table_is_read_across_the_parts(eod_env, tmp_path):
    """A crash empties unlogged tables: one built by the part before the captures and
    read by the part after them would come back empty while the step that built it
    stays recorded as succeeded. Every such table must be logged."""
    run_eod(["dbt", "parse", "--quiet", "--target-path", str(tmp_path)], eod_env)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    after_names = set(_listed(AFTER_CAPTURES, eod_env, tmp_path))
    nodes = manifest["nodes"]
    after = {uid for uid, node in nodes.items() if node["name"] in after_names}
    read_across = {
        nodes[parent]["name"]
        for child in after
        for parent in manifest["parent_map"].get(child, [])
        if parent in nodes and parent not in after
    }
    assert "int_ledger_movements_daily" in read_across
    unlogged = sorted(
        name
        for name in read_across
        if next(n for n in nodes.values() if n["name"] == name)["config"].get("unlogged")
    )
    assert unlogged == []


def test_a_break_skips_no_model(eod_env, tmp_path):
    """dbt build skips what is built from a model whose test fails. A reconciliation
    test failing is a break, not an error, and the close goes on to seal D's marts: so
    every model built from a reconciliation test's parents must be built before that
    test runs (one of its parents or their ancestors), else a break leaves it unbuilt
    (fct_recon_breaks_daily, a view, would not exist at the seal of the chain's first
    date and would appear under that date once a later build created it)."""
    run_eod(["dbt", "parse", "--quiet", "--target-path", str(tmp_path)], eod_env)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    nodes, parents, children = manifest["nodes"], manifest["parent_map"], manifest["child_map"]

    def closure(start: set[str], edges: dict[str, list[str]]) -> set[str]:
        seen, todo = set(), list(start)
        while todo:
            uid = todo.pop()
            for nxt in edges.get(uid, []):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    breaks = [
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "test" and "reconciliation" in node["config"]["tags"]
    ]
    assert len(breaks) == 3
    for test in breaks:
        built_before = closure({test}, parents)
        models_after = {
            uid
            for uid in closure(set(parents[test]), children)
            if nodes.get(uid, {}).get("resource_type") == "model"
        }
        assert sorted(models_after - built_before) == [], test
    assert any("fct_recon_breaks_daily" in uid for uid in closure({breaks[0]}, parents))
