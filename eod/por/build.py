"""Building, publishing and proving the proof of reserves from Postgres.

The leaves are the rows of `marts.user_balance_snapshots` for (D, currency), their
hashes computed in SQL from the nonces of `eod.por_nonces`; units are computed here the same way
the model does (total in base units, negative counted as zero). Leaves are streamed
through a server-side cursor in hash order (byte order: COLLATE "C"), so building a
tree over millions of them holds a few dozen nodes in memory. A proof recomputes the
tree the same way, following one leaf, instead of storing every level.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

from eod.db import connect, transaction
from eod.errors import ConfigError, EodError, InputError
from eod.por.encoding import leaf_hash, nonce
from eod.por.tree import Root, TreeBuilder

log = logging.getLogger(__name__)

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


def _leaves(conn, business_date: date, currency: str) -> Iterator[tuple[str, int, int]]:
    return stream_leaves(conn, _LEAVES, (business_date, currency))


def _require_snapshots(conn) -> None:
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
    for hash_, units, user_id in _leaves(conn, business_date, currency):
        is_target = user_id == target_user
        found = found or is_target
        builder.push(hash_, units, is_target)
    root = builder.finish()
    if not found:
        raise InputError(f"user {target_user} has no {currency} balance on {business_date}")
    return root, builder


def build_proof_of_reserves(database_url: str, business_date: date) -> dict[str, Any]:
    """Build every currency's tree for D and replace D's rows of marts.proof_of_reserves."""
    started = time.monotonic()
    roots: dict[str, Root] = {}
    conn = connect(database_url)
    try:
        with conn:
            _require_snapshots(conn)
            with conn.cursor() as cur:
                # The sort of a large currency's leaves should stay in memory.
                cur.execute("set local work_mem = '256MB'")
                cur.execute("select currency from exchange.currencies order by currency")
                currencies = [row[0] for row in cur.fetchall()]
            for currency in currencies:
                roots[currency], _ = tree_of(conn, business_date, currency)
    finally:
        conn.close()
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "delete from marts.proof_of_reserves where business_date = %s", (business_date,)
        )
        for currency, root in roots.items():
            cur.execute(
                """with custody as (
                       select sum(b.balance_units) / power(10::numeric, c.decimals) as balance
                       from eod.custody_balances as b
                       inner join exchange.currencies as c on c.currency = b.currency
                       where b.business_date = %(d)s and b.currency = %(c)s
                       group by c.decimals
                   )
                   insert into marts.proof_of_reserves
                       (business_date, currency, root_hash, root_sum, leaf_count,
                        custody_balance, reserve_ratio)
                   select %(d)s, %(c)s, %(h)s, %(s)s, %(n)s, custody.balance,
                          case when %(s)s = 0 then null
                               else custody.balance
                                    / (%(s)s / power(10::numeric, cur.decimals)) end
                   from exchange.currencies as cur
                   left join custody on true
                   where cur.currency = %(c)s""",
                {
                    "d": business_date,
                    "c": currency,
                    "h": root.hash,
                    "s": root.sum,
                    "n": root.leaf_count,
                },
            )
    summary = {
        "currencies": {
            c: {"root_hash": r.hash, "root_sum": str(r.sum), "leaf_count": r.leaf_count}
            for c, r in roots.items()
        },
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("proof of reserves for %s: %s", business_date, summary)
    return summary


def published_root(conn, business_date: date, currency: str) -> Root | None:
    with conn.cursor() as cur:
        cur.execute(
            """select root_hash, root_sum, leaf_count from marts.proof_of_reserves
               where business_date = %s and currency = %s""",
            (business_date, currency),
        )
        row = cur.fetchone()
    return Root(row[0], int(row[1]), int(row[2])) if row else None


def prove(
    database_url: str, business_date: date, user_id: int, currency: str, secret: str | None
) -> dict[str, Any]:
    """The proof of one user's leaf in (D, currency), in the JSON shape of section 7."""
    if not secret:
        raise ConfigError("EOD_POR_SECRET is not set: a proof needs the nonce key")
    conn = connect(database_url)
    try:
        with conn:
            _require_snapshots(conn)
            published = published_root(conn, business_date, currency)
            if published is None:
                raise InputError(
                    f"no proof of reserves is published for {currency} on {business_date}"
                )
            with conn.cursor() as cur:
                cur.execute(
                    """select s.leaf_hash,
                              trunc(greatest(s.total, 0) * power(10::numeric, c.decimals))::text
                       from marts.user_balance_snapshots as s
                       inner join exchange.currencies as c on c.currency = s.currency
                       where s.business_date = %s and s.user_id = %s and s.currency = %s""",
                    (business_date, user_id, currency),
                )
                row = cur.fetchone()
            if row is None:
                raise InputError(f"user {user_id} has no {currency} balance on {business_date}")
            stored_leaf, units = row[0], int(row[1])
            leaf_nonce = nonce(secret, business_date, user_id)
            leaf = leaf_hash(leaf_nonce, user_id, currency, units)
            if leaf != stored_leaf:
                raise ConfigError(
                    f"the stored leaf of user {user_id} {currency} on {business_date} was not"
                    " made with this EOD_POR_SECRET"
                )
            root, builder = tree_of(conn, business_date, currency, target_user=user_id)
    finally:
        conn.close()
    if (root.hash, root.sum) != (published.hash, published.sum):
        raise EodError(
            f"the published root of {currency} on {business_date} is not the tree of the"
            " current snapshot; re-run the proof_of_reserves step"
        )
    return {
        "business_date": business_date.isoformat(),
        "currency": currency,
        "user_id": user_id,
        "nonce": leaf_nonce,
        "units": units,
        "leaf_hash": leaf,
        "path": [step.as_json() for step in builder.path],
        "root_hash": root.hash,
        "root_sum": root.sum,
    }
