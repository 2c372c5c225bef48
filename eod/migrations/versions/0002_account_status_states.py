"""The account-state machine's states in `exchange.account_status` (CONTRACT section 9).

Older platform databases have the three-value enum of 0001_platform_schema.sql with
users in it: extend it in place, so every existing row keeps its value, with every
state of `seeds/account_states.csv`, each placed before the next seed state the enum
already has, so the enum keeps the seed's order. The new values are usable from the
next migration on (Postgres forbids using them in the transaction that adds them).
"""

from __future__ import annotations

from psycopg2 import sql

from fsm.seeds import load_states


def apply(cur) -> None:
    wanted = [s.state for s in load_states()]
    cur.execute("select unnest(enum_range(null::exchange.account_status))::text")
    present = {row[0] for row in cur.fetchall()}
    for i, state in enumerate(wanted):
        if state in present:
            continue
        following = next((s for s in wanted[i + 1 :] if s in present), None)
        where = sql.SQL(" before {}").format(sql.Literal(following)) if following else sql.SQL("")
        cur.execute(
            sql.SQL("alter type exchange.account_status add value if not exists {}{}").format(
                sql.Literal(state), where
            )
        )
        present.add(state)
