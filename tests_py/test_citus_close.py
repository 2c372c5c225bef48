"""The close on a Citus cluster gives a single Postgres's figures (CONTRACT section 10a).

One generated exchange (three days, the third with an engine/ledger drift for two
users, a custody drift and an on-chain staking drift) is loaded into a database on
the machine's Postgres and into one on a local Citus cluster (a coordinator, two
workers). Both go through the same closes, every step of them (captures, dbt,
postings, freezes, proof of reserves):

| experiment | strikes | compared with the single Postgres |
|---|---|---|
| the first close | day 1, the chain's start (all history folded) | every figure below |
| catch-up | closing day 3 closes day 2 first | every figure below |
| a fault day | day 3: engine drift, custody drift, staking drift | breaks, freezes, pages |
| a re-run | day 3 closed again | nothing added, same figures |
| turned coordinator | day 1 on Postgres alone, then Citus and `eod db migrate` | every figure |

Figures: every row of every mart, every ledger row (ids aside; the postings' own
posting instant aside), every proof-of-reserves root, every account's status and its
audit trail (ids and instants aside), each close's outcome and the pages sent.
"""

from __future__ import annotations

import contextlib
import uuid

import psycopg2
import pytest

from eod import embedded
from eod.commands.close import close_date
from eod.db import with_database
from eod.migrations import migrate
from tests_py.citus_fixtures import citus_cluster, citus_db_url  # noqa: F401 - fixtures
from tests_py.close_fixtures import running_exchange
from tests_py.conftest import RUN_ID, create_database, drop_database

pytestmark = pytest.mark.citus

FAULTS = {"break_ledger": 2, "custody_drift": {"BTC": 5_000_000}, "staking_drift": 7}

_LEDGER_COLUMNS = (
    "journal_id, user_id, account, currency, amount, reference_type, reference_id, reason, "
    "business_date, created_by, case when created_by = 'eod' then null else effective_at end"
)


def _rows(url: str, sql: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _every_row(url: str, table: str) -> list[tuple]:
    columns = _rows(
        url,
        """select count(*) from information_schema.columns
           where table_schema || '.' || table_name = %s""",
        (table,),
    )[0][0]
    order = ", ".join(str(i) for i in range(1, columns + 1))
    return _rows(url, f"select * from {table} order by {order}")


def figures(url: str) -> dict[str, object]:
    marts = [
        row[0]
        for row in _rows(
            url,
            """select table_schema || '.' || table_name from information_schema.tables
               where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1""",
        )
    ]
    found: dict[str, object] = {table: _every_row(url, table) for table in marts}
    found["ledger"] = _rows(
        url, f"select {_LEDGER_COLUMNS} from exchange.ledger_entries order by {_LEDGER_COLUMNS}"
    )
    found["accounts"] = _rows(url, "select user_id, status::text from exchange.users order by 1")
    found["audit"] = _rows(
        url,
        """select user_id, from_state::text, to_state::text, actor, reason
           from exchange.account_state_transitions order by transition_id""",
    )
    found["steps"] = _rows(
        url, "select business_date, step_name, status from eod.eod_runs order by 1, 2"
    )
    return found


@pytest.fixture(scope="module")
def private_nats(tmp_path_factory):
    """A NATS of these tests' own: the engine simulator cancels a user's orders on the
    account events it hears, and other closes on a shared NATS must not reach it."""
    url = embedded.start_nats(tmp_path_factory.mktemp("nats"))
    yield url
    embedded.stop_nats()


@pytest.fixture(scope="module")
def single(pg_server_url, template_db, private_nats, tmp_path_factory):
    """The scenario's figures on the machine's (single) Postgres."""
    name = create_database(pg_server_url, template_db)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            found = close_scenario(
                with_database(pg_server_url, name),
                private_nats,
                monkeypatch,
                tmp_path_factory.mktemp("single"),
            )
    finally:
        drop_database(pg_server_url, name)
    assert found["outcomes"] == [0, 1, 1]  # day 3 breaks, and breaks again when re-run
    assert len(found["pages"]) == 3 and len(found["marts.user_balance_snapshots"]) > 0
    return found


def close_scenario(url, nats_url, monkeypatch, tmp_path, after_day_1=None) -> dict[str, object]:
    """The same closes on one database; its figures, outcomes and pages. `after_day_1()`
    runs between the first close and the others."""
    with running_exchange(url, nats_url, monkeypatch, tmp_path, days=3, **FAULTS) as x:
        first, _, last = x.dates
        outcomes = [close_date(first)]
        if after_day_1 is not None:
            after_day_1()
        outcomes.append(close_date(last))
        rows_before_rerun = x.scalar("select count(*) from exchange.ledger_entries")
        outcomes.append(close_date(last))
        assert x.scalar("select count(*) from exchange.ledger_entries") == rows_before_rerun
        pages = sorted(
            (e["dedup_key"], e["payload"]["summary"], e["payload"]["severity"])
            for e in x.pager.events
        )
    return {**figures(url), "outcomes": outcomes, "pages": pages}


def assert_same_figures(single: dict, cluster: dict) -> None:
    assert single.keys() == cluster.keys()
    for name in single:
        assert single[name] == cluster[name], f"{name} differs on Citus"


def test_close_on_citus_gives_the_single_postgres_figures(
    single,
    citus_db_url,  # noqa: F811 - the fixture imported above
    private_nats,
    monkeypatch,
    tmp_path,
):
    assert_same_figures(single, close_scenario(citus_db_url, private_nats, monkeypatch, tmp_path))

    # the tables are laid out as designed: the per-user marts distributed by user_id in
    # one co-location group, the journals with the ledger, the small ones everywhere
    layout = dict(
        _rows(
            citus_db_url,
            """select logicalrelid::regclass::text,
                      coalesce(column_to_column_name(logicalrelid, partkey), 'reference')
                      || ':' || colocationid
               from pg_dist_partition""",
        )
    )
    user_group = layout["eod.me_balances"]
    assert user_group.startswith("user_id:")
    for table in (
        "marts.user_balance_snapshots",
        "marts.fct_daily_pnl",
        "marts.fct_daily_fees",
        "marts.fct_fee_tiers",
        "marts.recon_me_ledger",
        "intermediate.int_me_ledger_compared",
        "exchange.staking_positions",
    ):
        assert layout[table] == user_group, table
    assert layout["marts.fct_fee_journal"] == layout["exchange.ledger_entries"]
    assert layout["marts.fct_fee_journal"].startswith("journal_id:")
    for table in ("exchange.currencies", "reference.fee_schedule", "marts.recon_custody"):
        assert layout[table].startswith("reference:"), table
    assert "exchange.users" not in layout  # the account-state machine stays on the coordinator
    assert_ledger_rules(citus_db_url)


def test_a_single_postgres_turned_coordinator_gives_the_same_figures(
    single,
    citus_cluster,  # noqa: F811 - the fixture imported above
    private_nats,
    monkeypatch,
    tmp_path,
):
    """A deployment's database, closed on Postgres alone, becomes a Citus coordinator
    mid-chain: `create extension citus` on every node, the workers added, `eod db
    migrate` (which lays out the tables it has, dbt's included); the next closes give
    the single Postgres's figures."""
    name = f"eod_citus_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = citus_cluster.create_database(name, citus=False)
    try:
        migrate(url)

        def become_coordinator() -> None:
            citus_cluster.make_coordinator(name)
            assert migrate(url) == ["R0900_citus_layout"]
            assert _rows(url, "select count(*) from pg_dist_partition")[0][0] > 20

        found = close_scenario(url, private_nats, monkeypatch, tmp_path, become_coordinator)
        assert_same_figures(single, found)
    finally:
        with contextlib.suppress(Exception):
            citus_cluster.drop_database(name)


def assert_ledger_rules(url: str) -> None:
    """The ledger's rules hold on Citus as the contract states them: every leg of a
    journal is in one shard, where the journal's balance is checked at commit (a
    journal written leg by leg in several statements is accepted, an unbalanced one
    refused), a house leg (no user) included; the ledger stays append-only; a status
    changes only through the state machine."""
    insert = """insert into exchange.ledger_entries (journal_id, user_id, account, currency,
                    amount, reference_type, reference_id, business_date, effective_at,
                    created_by)
                values (%s, %s, %s, 'BTC', %s, 'test', 'rules', '2026-11-04',
                        '2026-11-04 12:00+00', 'test')"""
    balanced, unbalanced = (f"00000000-0000-0000-0000-00000000c17{n}" for n in (5, 6))
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(insert, (unbalanced, 1, "user", "1.5"))
            with pytest.raises(psycopg2.Error) as refused:
                conn.commit()
            # a refusal at commit: Citus relays a single shard's reason as a warning
            assert "does not sum to zero" in str(refused.value) + "".join(conn.notices)
            conn.rollback()
            # leg by leg, in two statements of one transaction
            cur.execute(insert, (balanced, 1, "user", "1.5"))
            cur.execute(insert, (balanced, None, "house:test", "-1.5"))
            conn.commit()
            cur.execute(
                """select count(*), count(distinct get_shard_id_for_distribution_column(
                                        'exchange.ledger_entries', journal_id))
                   from exchange.ledger_entries where reference_id = 'rules'"""
            )
            assert cur.fetchone() == (2, 1)
            with pytest.raises(psycopg2.Error, match="append-only"):
                cur.execute("update exchange.ledger_entries set amount = 0 where user_id = 1")
            conn.rollback()
            with pytest.raises(psycopg2.Error, match="needs an actor and a reason"):
                cur.execute("update exchange.users set status = 'banned' where user_id = 1")
            conn.rollback()
    finally:
        conn.close()
