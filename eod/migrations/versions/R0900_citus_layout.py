"""On a Citus coordinator, lay the tables out (eod.citus.layout).

On a plain Postgres this does nothing. On a database where `create extension citus`
was run (as `eod citus up` does), it makes the lookups reference tables, distributes
the per-user tables by user_id, the ledger by journal_id and the trades by trade_id,
leaves the account-state machine and the close's records on the coordinator, creates
the marts' functions on every node, creates `eod.citus_place` (the rule for the tables
dbt builds) and places the dbt tables that exist already. Foreign keys of the tables
that move are dropped for the move; those from a distributed or reference table to a
reference table are created again. A key from a coordinator table to a reference
table (exchange.accounts' currency) is not: it would draw the account-state machine's
tables into Citus's metadata, and they stay plain Postgres tables. Triggers go with
the tables into every shard; the ledger's balance rule (migration 0700) is checked
leg by leg at commit there (layout.BALANCE_AT_COMMIT).

Idempotent: a table already laid out is left as it is. `pending` asks for it again on
a database that became a coordinator after this first ran (as a no-op).
"""

from __future__ import annotations

import hashlib
import inspect

from eod.citus import layout


def checksum() -> str:
    return hashlib.sha256(inspect.getsource(layout).encode()).hexdigest()


def _laid_out(cur) -> set[str]:
    cur.execute("select logicalrelid::regclass::text from pg_dist_partition")
    return {row[0] for row in cur.fetchall()}


def _existing(cur, tables) -> list[str]:
    cur.execute(
        "select t from unnest(%s::text[]) as t where to_regclass(t) is not null", (list(tables),)
    )
    return [row[0] for row in cur.fetchall()]


def _platform_tables(cur) -> tuple[list[str], list[layout.Distributed]]:
    """The platform and capture tables still to lay out: (reference, distributed)."""
    done = _laid_out(cur)
    reference = [t for t in _existing(cur, layout.REFERENCE_TABLES) if t not in done]
    present = set(_existing(cur, [d.table for d in layout.DISTRIBUTED_TABLES]))
    distributed = [
        d for d in layout.DISTRIBUTED_TABLES if d.table in present and d.table not in done
    ]
    return reference, distributed


def pending(cur) -> bool:
    if not layout.citus_enabled(cur):
        return False
    reference, distributed = _platform_tables(cur)
    cur.execute("select to_regprocedure('eod.citus_place(regclass)') is null")
    no_rule = cur.fetchone()[0]
    cur.execute(layout.LOCAL_FUNCTIONS)
    local_functions = cur.fetchall()
    return bool(
        reference
        or distributed
        or no_rule
        or local_functions
        or layout.unplaced_dbt_tables(cur)
        or not layout.balance_checked_at_commit(cur)
    )


def _widen_keys(cur, table: str) -> None:
    schema = table.split(".")[0]
    for name, definition in layout.WIDENED_KEYS.get(table, {}).items():
        cur.execute(
            """select exists (select 1 from pg_constraint
                              where conrelid = %s::regclass and conname = %s)""",
            (table, name),
        )
        if cur.fetchone()[0]:
            cur.execute(f'alter table {table} drop constraint "{name}"')
        else:
            cur.execute(f'drop index if exists {schema}."{name}"')
        cur.execute(definition)


def apply(cur) -> None:
    if not layout.citus_enabled(cur):
        return
    # the ledger's triggers (balance at commit, append-only) run in its shards
    cur.execute("set local citus.enable_unsafe_triggers = on")
    cur.execute(
        "select format('alter database %I set citus.enable_unsafe_triggers = on', "
        "current_database())"
    )
    cur.execute(cur.fetchone()[0])
    layout.one_connection_per_node(cur)

    reference, distributed = _platform_tables(cur)
    moving = reference + [d.table for d in distributed]
    foreign_keys = []
    if moving:
        # Foreign keys from or to a table that moves: dropped now, created again after.
        cur.execute(
            """select conrelid::regclass::text, conname, pg_get_constraintdef(oid)
               from pg_constraint
               where contype = 'f'
                 and (conrelid = any(%s::regclass[]) or confrelid = any(%s::regclass[]))
               order by 1, 2""",
            (moving, moving),
        )
        foreign_keys = cur.fetchall()
    for table, name, _ in foreign_keys:
        cur.execute(f'alter table {table} drop constraint "{name}"')
    for table in reference:
        cur.execute("select create_reference_table(%s)", (table,))
    if layout.JOURNAL_ANCHOR in [d.table for d in distributed]:
        # The ledger's rows were checked as they were written; copied into the shards
        # they would queue the balance triggers' deferred events, and a shard with
        # pending events cannot be altered in this transaction. The rule is attached
        # again below, as it runs in the shards.
        for trigger in layout.BALANCE_TRIGGERS:
            cur.execute(f"drop trigger if exists {trigger} on {layout.JOURNAL_ANCHOR}")
    for dist in distributed:
        _widen_keys(cur, dist.table)
        cur.execute(
            "select create_distributed_table(%s, %s, colocate_with => %s)",
            (dist.table, dist.column, dist.colocate_with),
        )
    laid_out = _laid_out(cur)
    for table, name, definition in foreign_keys:
        if table in laid_out:
            cur.execute(f'alter table {table} add constraint "{name}" {definition}')
    if layout.JOURNAL_ANCHOR in laid_out and not layout.balance_checked_at_commit(cur):
        # the rule's function on every node before the shards' triggers call it (one
        # created before `create extension citus` is on the coordinator alone)
        cur.execute(
            """select not exists (select 1 from pg_dist_object
                                  where classid = 'pg_proc'::regclass
                                    and objid = %s::regprocedure)""",
            (layout.BALANCE_FUNCTION,),
        )
        if cur.fetchone()[0]:
            cur.execute("select create_distributed_function(%s)", (layout.BALANCE_FUNCTION,))
        for statement in layout.BALANCE_AT_COMMIT:
            cur.execute(statement)

    # the marts' functions on every node (the shards call them), the step function
    # before its aggregate
    cur.execute(layout.LOCAL_FUNCTIONS)
    for (function,) in cur.fetchall():
        cur.execute("select create_distributed_function(%s)", (function,))
    cur.execute(layout.PLACE_FUNCTION)
    for table in layout.unplaced_dbt_tables(cur):
        cur.execute("select eod.citus_place(%s::regclass)", (table,))
