"""Building, publishing and proving the proof of reserves from Postgres.

Every currency's tree is built from its leaves (eod.por.leaves), in worker processes
when there are several trees and CPUs (eod.por.workers), and the roots are published
in one transaction. A proof recomputes one tree the same way, following one leaf,
instead of storing every level.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

import psycopg2.extensions

from eod.close.leader import check_fence
from eod.db import connect, transaction
from eod.errors import ConfigError, EodError, InputError
from eod.por.encoding import leaf_hash, nonce
from eod.por.leaves import require_snapshots, sort_in_memory, tree_of
from eod.por.tree import Root, merkle_root
from eod.por.workers import TreeJob, build_in_workers, worker_count

log = logging.getLogger(__name__)

# Counted before joining: the count alone can run as a parallel scan and aggregate.
_LEAVES_PER_CURRENCY = """
    select c.currency, coalesce(n.leaves, 0)
    from exchange.currencies as c
    left join (
        select currency, count(*) as leaves from marts.user_balance_snapshots
        where business_date = %s group by currency
    ) as n on n.currency = c.currency
    order by 2 desc, c.currency
"""

_PUBLISH = """
    with custody as (
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
    where cur.currency = %(c)s
"""


def _build_roots(
    database_url: str, business_date: date, workers: int | None
) -> tuple[dict[str, Root], int, float | None]:
    """(root of every currency by currency, processes used, the worker processes' peak
    MiB or None when the trees were built in this process)."""
    conn = connect(database_url)
    # One snapshot for the counts and every tree, whichever process builds it.
    conn.isolation_level = psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ
    try:
        with conn:
            require_snapshots(conn)
            with conn.cursor() as cur:
                sort_in_memory(cur)
                cur.execute(_LEAVES_PER_CURRENCY, (business_date,))
                sizes = cur.fetchall()  # largest first
            # A currency without leaves is the empty tree: no scan, no worker.
            roots = {currency: merkle_root([]) for currency, leaves in sizes if not leaves}
            to_build = [currency for currency, leaves in sizes if leaves]
            processes = worker_count(len(to_build), workers)
            if processes == 1:
                for currency in to_build:
                    roots[currency], _ = tree_of(conn, business_date, currency)
                return dict(sorted(roots.items())), 1, None
            with conn.cursor() as cur:
                cur.execute("select pg_export_snapshot(), current_setting('application_name')")
                snapshot, application_name = cur.fetchone()
            jobs = [TreeJob(database_url, snapshot, business_date, c) for c in to_build]
            built = build_in_workers(jobs, processes, application_name)
    finally:
        conn.close()
    roots.update((tree.currency, tree.root) for tree in built)
    peaks = [tree.peak_mib for tree in built if tree.peak_mib is not None]
    return dict(sorted(roots.items())), processes, max(peaks, default=None)


def build_proof_of_reserves(
    database_url: str,
    business_date: date,
    workers: int | None = None,
    fencing_token: int | None = None,
) -> dict[str, Any]:
    """Build every currency's tree for D and replace D's rows of marts.proof_of_reserves
    (in a transaction that checks the close's fencing token first, when given).

    `workers` forces the number of processes; by default it is EOD_POR_WORKERS or the
    CPU count (see eod.por.workers.worker_count)."""
    started = time.monotonic()
    roots, processes, workers_peak_mib = _build_roots(database_url, business_date, workers)
    with transaction(database_url) as conn, conn.cursor() as cur:
        if fencing_token is not None:
            check_fence(cur, fencing_token)
        cur.execute(
            "delete from marts.proof_of_reserves where business_date = %s", (business_date,)
        )
        for currency, root in roots.items():
            cur.execute(
                _PUBLISH,
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
        "workers": processes,
        "workers_peak_mib": workers_peak_mib,
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
    with transaction(database_url) as conn:
        require_snapshots(conn)
        published = published_root(conn, business_date, currency)
        if published is None:
            raise InputError(f"no proof of reserves is published for {currency} on {business_date}")
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
