"""Where each table of the close lives on a Citus cluster (CONTRACT section 10a).

Applied by the repeatable migration R0900_citus_layout on a Citus coordinator, and
only there: on a plain Postgres, `eod db migrate` changes nothing. The tables dbt
builds are placed by one rule, `eod.citus_place` (PLACE_FUNCTION below), which the
migration creates and dbt calls on every table it creates (macros/citus/).

- Per-user tables are hash-distributed by `user_id` and co-located with
  `eod.me_balances` (the anchor of the user group): a join or a GROUP BY on user_id
  runs inside each shard.
- The ledger is distributed by `journal_id`, the unit of its invariants: every leg of a
  journal, house legs (user_id null) included, lands in one shard, so the balance
  rule, the idempotency keys and the append-only trigger are checked inside a shard
  as on one Postgres. The close's journal models share its group (a posting reads a
  journal's legs shard by shard; Citus numbers them from the ledger's identity
  sequence on the coordinator, so they pass through it on their way in).
- Trades are distributed by `trade_id`: a trade has two users; the legs model splits
  it into one row per (trade, user) and moves each to its user's shard.
- Small lookups the per-user queries join are reference tables, copied to every node.
- The account-state machine (users, the audit chain, closure requests, accounts) and
  the close's operational tables stay on the coordinator: the audit is one global
  hash chain serialised by a lock, written by the status trigger in the transaction
  of the change together with the outbox.

Citus enforces a unique key only when it contains the distribution column; the keys
that did not are widened with it (see WIDENED_KEYS) and what that leaves to the
writers is said there.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_ANCHOR = "eod.me_balances"
JOURNAL_ANCHOR = "exchange.ledger_entries"


@dataclass(frozen=True)
class Distributed:
    table: str
    column: str
    colocate_with: str  # 'none' starts a group of its own


REFERENCE_TABLES = (
    "exchange.currencies",
    "exchange.mark_prices",
    "exchange.revenue_router",
    "exchange.custody_wallets",
    "eod.custody_balances",
    "eod.onchain_staking",
    # the HMAC pads of the proof-of-reserves nonces: the leaves are hashed in each
    # shard, so every node needs them (only their owner can read them, as before)
    "eod.por_key",
    # what each close could see of the ledger and the trades: read by the queries that
    # count them (eod.close_snapshot), which run in the shards
    "eod.close_snapshots",
)

DISTRIBUTED_TABLES = (
    Distributed(USER_ANCHOR, "user_id", "none"),
    Distributed("exchange.staking_positions", "user_id", USER_ANCHOR),
    Distributed(JOURNAL_ANCHOR, "journal_id", "none"),
    Distributed("exchange.trades", "trade_id", "none"),
)

# Unique keys without the distribution column, and what they become. The ledger's
# entry_id stays unique because one identity sequence on the coordinator hands it out;
# the posting keys carry journal_id, which the close derives from the reference itself
# (fct_fee_journal, fct_staking_payout_journal), so the key means what it meant; an
# admin adjustment's key is also serialised by eod.accounts.adjustments' advisory lock,
# which is what refuses a second journal for one key on Citus.
WIDENED_KEYS = {
    "exchange.ledger_entries": {
        "ledger_entries_pkey": "alter table exchange.ledger_entries "
        "add constraint ledger_entries_pkey primary key (entry_id, journal_id)",
        "ledger_entries_posting_uidx": "create unique index ledger_entries_posting_uidx "
        "on exchange.ledger_entries (reference_type, reference_id, account, currency, "
        "coalesce(user_id, -1), journal_id) "
        "where reference_type in ('fee_journal', 'staking_payout')",
        "ledger_entries_admin_adjustment_uidx": "create unique index "
        "ledger_entries_admin_adjustment_uidx on exchange.ledger_entries "
        "(reference_id, account, journal_id) where reference_type = 'admin_adjustment'",
    },
    "exchange.staking_positions": {
        "staking_positions_pkey": "alter table exchange.staking_positions "
        "add constraint staking_positions_pkey primary key (position_id, user_id)",
    },
}

# Coordinator tables: the account-state machine, the close's own records (everything
# else in schema eod) and the published roots, which the close writes row by row.
COORDINATOR_TABLES = (
    "exchange.users",
    "exchange.accounts",
    "exchange.account_states",
    "exchange.account_transition_rules",
    "exchange.account_state_transitions",
    "exchange.closure_requests",
    "marts.proof_of_reserves",
)

# The schemas of dbt's tables: placed by eod.citus_place as dbt creates them, and by the
# migration when they exist already (a single-Postgres deployment turned coordinator).
DBT_SCHEMAS = ("intermediate", "marts", "snapshots", "reference")

# Where a table dbt builds goes, by its columns:
# - a `journal_id` column: legs of journals, some with no user (house legs), so
#   distributed by journal_id with the ledger (posting them is shard to shard);
# - else a `user_id` column: distributed by user_id with the per-user group, so joins
#   and GROUP BYs on user_id stay inside a shard;
# - else (a few rows per date, or a lookup): a reference table, on every node.
# Rows already in the table (a table placed by the migration) are moved into its
# shards, and the coordinator's copy emptied. A table already placed is left alone.
PLACE_FUNCTION = f"""
create or replace function eod.citus_place(target regclass) returns text
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    columns text[];
    had_rows boolean;
    placed text;
begin
    if exists (select 1 from pg_dist_partition where logicalrelid = target) then
        return 'placed already';
    end if;
    select array_agg(attname::text) into columns
    from pg_attribute
    where attrelid = target and attnum > 0 and not attisdropped;
    execute format('select exists (select 1 from %s)', target) into had_rows;
    if 'journal_id' = any(columns) then
        perform create_distributed_table(target, 'journal_id', colocate_with => '{JOURNAL_ANCHOR}');
        placed := 'distributed by journal_id';
    elsif 'user_id' = any(columns) then
        perform create_distributed_table(target, 'user_id', colocate_with => '{USER_ANCHOR}');
        placed := 'distributed by user_id';
    else
        perform create_reference_table(target);
        placed := 'reference';
    end if;
    if had_rows then
        perform truncate_local_data_after_distributing_table(target);
    end if;
    return placed;
end
$$
"""


def citus_enabled(cur) -> bool:
    """Whether this database is a Citus coordinator (the extension is created in it)."""
    cur.execute("select exists (select 1 from pg_extension where extname = 'citus')")
    return bool(cur.fetchone()[0])


def unplaced_dbt_tables(cur) -> list[str]:
    """dbt's tables (DBT_SCHEMAS) that are not laid out yet, the coordinator's aside."""
    cur.execute(
        """select c.oid::regclass::text from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           where c.relkind in ('r', 'p') and n.nspname = any(%s)
             and not exists (select 1 from pg_dist_partition p where p.logicalrelid = c.oid)
             and c.oid::regclass::text <> all(%s)
           order by 1""",
        (list(DBT_SCHEMAS), list(COORDINATOR_TABLES)),
    )
    return [row[0] for row in cur.fetchall()]


# The ledger's balance rule (migration 0700, its one home) as it is attached in the
# shards. On one Postgres a writer that inserts whole journals per statement may have
# each statement checked instead of each leg at commit. On Citus a statement's rows
# reach a shard in more than one statement whenever a connection serves several shards
# (a COPY is ended on one shard to go on with another), so one journal's legs can be
# split and a statement check would refuse a valid journal: there every leg is checked
# at commit, in its shard (all the journal's legs are there), whatever the writer says;
# the shard's transaction ids are the worker's, so the journal is found by its id.
BALANCE_FUNCTION = "exchange.check_journal_balanced_at_commit()"
BALANCE_TRIGGERS = ("ledger_entries_balanced", "ledger_entries_balanced_at_commit")
BALANCE_AT_COMMIT = (
    # a leg's journal is summed in its shard, found by journal_id
    "create index if not exists ledger_entries_journal_idx on exchange.ledger_entries (journal_id)",
    *(f"drop trigger if exists {name} on exchange.ledger_entries" for name in BALANCE_TRIGGERS),
    """create constraint trigger ledger_entries_balanced_at_commit
       after insert on exchange.ledger_entries
       deferrable initially deferred
       for each row execute function exchange.check_journal_balanced_at_commit()""",
)


def balance_checked_at_commit(cur) -> bool:
    cur.execute(
        """select exists (select 1 from pg_trigger
                          where tgrelid = 'exchange.ledger_entries'::regclass
                            and tgname = 'ledger_entries_balanced_at_commit'
                            and tgqual is null)
              and not exists (select 1 from pg_trigger
                              where tgrelid = 'exchange.ledger_entries'::regclass
                                and tgname = 'ledger_entries_balanced')"""
    )
    return bool(cur.fetchone()[0])


# The functions in schema eod (the marts' functions and aggregate, R0200) not yet on
# every node: those created before `create extension citus` (a single Postgres turned
# coordinator). Citus creates the ones created afterwards on every node by itself.
LOCAL_FUNCTIONS = """
    select p.oid::regprocedure::text from pg_proc p
    where p.pronamespace = 'eod'::regnamespace
      and not exists (select 1 from pg_dist_object o
                      where o.classid = 'pg_proc'::regclass and o.objid = p.oid)
    order by p.prokind desc, 1
"""


def one_connection_per_node(cur) -> None:
    """On Citus, run the rest of this transaction over one connection per node, all of it
    on the nodes' connections (none executed locally on the coordinator). A transaction
    that empties distributed tables in parallel and then writes a reference table they
    point at (a bulk load, a migration) is refused otherwise. Nothing on a plain
    Postgres."""
    if citus_enabled(cur):
        cur.execute("set local citus.multi_shard_modify_mode to 'sequential'")
        cur.execute("set local citus.enable_local_execution to off")
