"""Timing the proof-of-reserves tree over a synthetic currency of N leaves.

The leaves are generated in Postgres (a TEMP table, gone with the session), then
streamed and folded by the same code as the close: server-side cursor in hash order,
streaming tree. Reports the sort-and-stream-and-hash time and the process's peak RSS.
"""

from __future__ import annotations

import resource
import time
from typing import Any

from eod.db import transaction
from eod.por.leaves import stream_leaves
from eod.por.tree import TreeBuilder

_QUERY = """
    select leaf_hash, units::text, user_id from por_bench
    where %s is not null
    order by leaf_hash collate "C", user_id
"""


def bench_tree(database_url: str, leaves: int) -> dict[str, Any]:
    with transaction(database_url) as conn:
        with conn.cursor() as cur:
            cur.execute("set local work_mem = '256MB'")
            started = time.monotonic()
            cur.execute(
                """create temp table por_bench on commit drop as
                   select i as user_id,
                          encode(sha256(int8send(i)), 'hex') as leaf_hash,
                          (i %% 100000000)::numeric as units
                   from generate_series(1, %s) as i""",
                (leaves,),
            )
            generated = time.monotonic() - started
        started = time.monotonic()
        builder = TreeBuilder()
        for hash_, units, _ in stream_leaves(conn, _QUERY, (1,)):
            builder.push(hash_, units)
        root = builder.finish()
        built = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "leaves": leaves,
        "generate_s": round(generated, 2),
        "tree_s": round(built, 2),
        "root_hash": root.hash,
        "root_sum": root.sum,
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }
