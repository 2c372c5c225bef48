"""On a Citus coordinator, lay the platform and capture tables out (eod.citus.layout).

On a plain Postgres this does nothing. On a database where `create extension citus`
was run (as `eod citus up` does), it makes the lookups reference tables, distributes
the per-user tables by user_id, the ledger by journal_id and the trades by trade_id,
and leaves the account-state machine and the close's records on the coordinator.
Idempotent: a table already laid out is left as it is. Foreign keys of the tables
that move are dropped for the move; those from a distributed or reference table to a
reference table are created again. A key from a coordinator table to a reference
table (exchange.accounts' currency) is not: it would draw the account-state machine's
tables into Citus's metadata, and they stay plain Postgres tables. Triggers go with
the tables into every shard.
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


def apply(cur) -> None:
    if not layout.citus_enabled(cur):
        return
    # the ledger's triggers (balance per statement, append-only) run in its shards
    cur.execute("set local citus.enable_unsafe_triggers = on")
    layout.one_connection_per_node(cur)
    cur.execute(
        "select format('alter database %I set citus.enable_unsafe_triggers = on', "
        "current_database())"
    )
    cur.execute(cur.fetchone()[0])

    done = _laid_out(cur)
    reference = [t for t in _existing(cur, layout.REFERENCE_TABLES) if t not in done]
    distributed = [
        d
        for d in layout.DISTRIBUTED_TABLES
        if d.table in _existing(cur, [d.table]) and d.table not in done
    ]
    moving = reference + [d.table for d in distributed]
    if not moving:
        return

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

    for dist in distributed:
        for name, definition in layout.WIDENED_KEYS.get(dist.table, {}).items():
            schema = dist.table.split(".")[0]
            cur.execute(
                """select exists (select 1 from pg_constraint
                                  where conrelid = %s::regclass and conname = %s)""",
                (dist.table, name),
            )
            if cur.fetchone()[0]:
                cur.execute(f'alter table {dist.table} drop constraint "{name}"')
            else:
                cur.execute(f'drop index if exists {schema}."{name}"')
            cur.execute(definition)
        cur.execute(
            "select create_distributed_table(%s, %s, colocate_with => %s)",
            (dist.table, dist.column, dist.colocate_with),
        )

    laid_out = _laid_out(cur)
    for table, name, definition in foreign_keys:
        if table in laid_out:
            cur.execute(f'alter table {table} add constraint "{name}" {definition}')
