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
