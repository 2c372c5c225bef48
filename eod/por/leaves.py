"""A currency's leaves, read from Postgres, and the tree they make.

The leaves are the rows of `marts.user_balance_snapshots` for (D, currency), their
hashes computed in SQL from the nonces of `eod.por_nonces`; units are computed here the same way
the model does (total in base units, negative counted as zero). Leaves are streamed
through a server-side cursor in hash order (byte order: COLLATE "C"), so building a
tree over millions of them holds a few dozen nodes in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from eod.errors import EodError, InputError
from eod.por.tree import TreeBuilder

FETCH = 50_000  # rows per round trip of the server-side cursor

_LEAVES = """
    select s.leaf_hash, trunc(greatest(s.total, 0) * power(10::numeric, c.decimals))::text,
           s.user_id
    from marts.user_balance_snapshots as s
    inner join exchange.currencies as c on c.currency = s.currency
    where s.business_date = %s and s.currency = %s
    order by s.leaf_hash collate "C", s.user_id
"""


def stream_leaves(conn, query: str, params: tuple) -> Iterator[tuple[str, int, int]]:
    """(leaf_hash, units, user_id) rows of `query` through a server-side cursor."""
    with conn.cursor(name="por_leaves") as cur:
        cur.itersize = FETCH
        cur.execute(query, params)
        for hash_, units, user_id in cur:
            if hash_ is None:
                raise EodError(f"user {user_id} has no leaf_hash ({params})")
            yield hash_, int(units), user_id


def sort_in_memory(cur) -> None:
    """The sort of a large currency's leaves should stay in memory (this transaction only)."""
    cur.execute("set local work_mem = '256MB'")


def require_snapshots(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("select to_regclass('marts.user_balance_snapshots') is not null")
        if not cur.fetchone()[0]:
            raise EodError(
                "marts.user_balance_snapshots does not exist: build the marts (dbt) first"
            )


def tree_of(conn, business_date: date, currency: str, target_user: int | None = None):
    """(root, builder) of (D, currency); builder.path is the target's path when given."""
    builder = TreeBuilder()
    found = target_user is None
    for hash_, units, user_id in stream_leaves(conn, _LEAVES, (business_date, currency)):
        is_target = user_id == target_user
        found = found or is_target
        builder.push(hash_, units, is_target)
    root = builder.finish()
    if not found:
        raise InputError(f"user {target_user} has no {currency} balance on {business_date}")
    return root, builder
