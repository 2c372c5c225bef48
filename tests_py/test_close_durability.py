"""A Postgres crash loses nothing a later step reads: after an immediate restart
between the close's two dbt steps, and the re-run of the failed step, every figure
equals a clean close of the same exchange.

Both closes run on a private Postgres instance (the crashed one must be crashable);
the exchange is generated twice from one seed, so the two are the same exchange.
"""

from __future__ import annotations

import pytest

from eod.close import dbt_build as dbt_parts
from eod.commands.close import close_date
from eod.errors import EodError
from flows import tasks
from tests_py.close_fixtures import running_exchange
from tests_py.private_postgres import PrivatePostgres

FAULTS = {"break_ledger": 2}


@pytest.fixture
def private_pg():
    pg = PrivatePostgres()
    yield pg
    pg.stop()


def figures(x) -> dict:
    """What a close decides, compared whole: each date's sealed marts and proof of
    reserves digests (every mart row, every root), the ledger's postings (entry ids and
    posting instants aside), the accounts it froze, the breaks it recorded."""
    return {
        "seals": x.fetch(
            "select business_date, marts_digest, por_digest from eod.close_seals order by 1"
        ),
        "postings": x.fetch(
            """select business_date, reference_type, reference_id, user_id, account,
                      currency, amount
               from exchange.ledger_entries where created_by = 'eod' order by 1, 2, 3, 4, 5, 6"""
        ),
        "frozen": x.fetch(
            """select user_id, to_state::text from exchange.account_state_transitions
               where actor = 'eod' order by 1, 2"""
        ),
        "breaks": x.fetch(
            """select check_name, user_id, currency, first_date, last_date, difference
               from eod.recon_breaks order by 1, 2, 3"""
        ),
        "recon": x.fetch(
            "select business_date, check_name, breaks from marts.recon_summary order by 1, 2"
        ),
    }


def test_a_postgres_crash_between_the_dbt_steps_changes_no_figure(
    private_pg, nats_url, monkeypatch, tmp_path
):
    clean_url = private_pg.create_database("clean")
    with running_exchange(clean_url, nats_url, monkeypatch, tmp_path / "clean", **FAULTS) as x:
        first, last = x.dates
        assert close_date(first) == 0
        assert close_date(last) == 1  # the two engine/ledger breaks
        reference = figures(x)
    assert len(reference["frozen"]) == 2 and reference["seals"]

    crashed_url = private_pg.create_database("crashed")
    real_build = tasks.run_build
    crashes = []

    def crash_before_the_captures_part(database_url, business_date, part, **kwargs):
        """Postgres crashes as dbt_build starts: dbt_build_trading stays succeeded, and
        the crash kills the build, which fails its step."""
        if part == dbt_parts.AFTER_CAPTURES and not crashes:
            private_pg.crash()
            crashes.append(business_date)
            raise RuntimeError("server closed the connection unexpectedly (Postgres crashed)")
        return real_build(database_url, business_date, part, **kwargs)

    with running_exchange(crashed_url, nats_url, monkeypatch, tmp_path / "crashed", **FAULTS) as x:
        first, last = x.dates
        assert close_date(first) == 0
        monkeypatch.setattr(tasks, "run_build", crash_before_the_captures_part)
        with pytest.raises(EodError, match="dbt_build"):
            close_date(last)
        assert crashes == [last]
        assert x.fetch(
            "select status from eod.eod_runs where business_date = %s"
            " and step_name = 'dbt_build_trading'",
            (last,),
        ) == [("succeeded",)]
        assert close_date(last) == 1
        assert figures(x) == reference
