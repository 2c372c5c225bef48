"""`eod bench close --citus`: the bench's day closed on a single Postgres and on a local
Citus cluster (a coordinator and two workers, `eod citus up`'s layout), side by side.

Both runs are `eod bench close` (eod.devkit.bench.close) on the same generated
exchange, without its SQL floors. On the cluster it also prints:

- the CPU seconds each node's Postgres processes spent in each stage of the measured
  close (read from /proc: the nodes share this machine), so the split of the work
  between the workers, and what was left to the coordinator, can be seen;
- the distributed plan of the heaviest models (eod.citus.plans): how many shard
  tasks, how the rows reach their table, and the joins that run inside each shard.

On one machine a cluster cannot be faster than a single Postgres: its nodes share the
same cores, and the coordinator adds its planning and its connections to the workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from eod.citus.cluster import LocalCluster, free_port_block
from eod.citus.plans import explain_models
from eod.close.status import close_status
from eod.db import session
from eod.devkit.bench.close import bench_close
from eod.devkit.bench.database import BenchDatabase

# The models that hold a row per trade leg, per balance or per user, and the journal.
HEAVY_MODELS = {
    "int_trade_legs_split": "intermediate.int_trade_legs_split",
    "int_ledger_user_entries_daily": "intermediate.int_ledger_user_entries_daily",
    "int_ledger_movements_daily": "intermediate.int_ledger_movements_daily",
    "fct_daily_pnl": "marts.fct_daily_pnl",
    "fct_fee_tiers": "marts.fct_fee_tiers",
    "fct_fee_journal": "marts.fct_fee_journal",
    "user_balance_snapshots": "marts.user_balance_snapshots",
    "int_me_ledger_compared": "intermediate.int_me_ledger_compared",
    "fct_staking_payouts": "marts.fct_staking_payouts",
}
SAMPLE_S = 0.5


class NodeSampler:
    """Every node's cumulative CPU seconds, sampled with the wall-clock time."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="citus-cpu", daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), self.cluster.cpu_seconds()))
            if self._stop.wait(SAMPLE_S):
                return

    def start(self) -> NodeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def used(self, began: float, ended: float) -> dict[str, float]:
        """CPU seconds per node between two instants (the samples around them)."""
        before = [s for at, s in self.samples if at <= began] or self.samples[:1]
        after = [s for at, s in self.samples if at >= ended] or self.samples[-1:]
        first, last = before[-1], after[0]
        return {node: round(last[node] - first.get(node, 0.0), 1) for node in last}


def _stages(url: str, day: date) -> list[tuple[str, float, float]]:
    """(steps, began, ended) of D's close, steps that ran side by side as one stage."""
    (status,) = close_status(url, [day])
    steps = sorted(
        (s.started_at.timestamp(), s.finished_at.timestamp(), s.step_name) for s in status.steps
    )
    stages: list[list] = []
    for began, ended, name in steps:
        if stages and began < stages[-1][2]:
            stages[-1][0].append(name)
            stages[-1][2] = max(stages[-1][2], ended)
        else:
            stages.append([[name], began, ended])
    return [(" + ".join(names), began, ended) for names, began, ended in stages]


def _cluster_database(cluster: LocalCluster):
    """A bench database made on every node of the cluster (bench_close's `database`)."""

    @contextmanager
    def database(server_url: str, prefix: str, *, keep: bool = False) -> Iterator[BenchDatabase]:
        name = f"{prefix}_citus"
        cluster.drop_database(name)
        url = cluster.create_database(name)
        bench = BenchDatabase(name, url, f"/tmp/{name}-target")
        try:
            yield bench
        finally:
            if not keep:
                cluster.drop_database(name)

    return database


def _shards_per_worker(url: str) -> str:
    with session(url) as conn, conn.cursor() as cur:
        cur.execute(
            """select nodeport, count(*) from citus_shards
               where table_name = 'eod.me_balances'::regclass group by 1 order by 1"""
        )
        return ", ".join(f"{count} on :{port}" for port, count in cur.fetchall())


def bench_close_citus(server_url: str, state_dir: Path, **bench) -> int:
    print("== a single Postgres ==", flush=True)
    single: dict[str, float] = {}

    def single_steps(db: BenchDatabase, day: date) -> None:
        (status,) = close_status(db.url, [day])
        single.update({s.step_name: float(s.seconds) for s in status.steps})

    bench_close(server_url, with_floors=False, after=single_steps, **bench)

    print("\n== a local Citus cluster: a coordinator and two workers ==", flush=True)
    cluster = LocalCluster(Path(state_dir) / "bench", free_port_block())
    cluster.up()
    sampler = NodeSampler(cluster).start()
    found: dict = {}

    def inspect(db: BenchDatabase, day: date) -> None:
        found["stages"] = [
            (names, round(ended - began, 1), sampler.used(began, ended))
            for names, began, ended in _stages(db.url, day)
        ]
        (status,) = close_status(db.url, [day])
        found["steps"] = {s.step_name: float(s.seconds) for s in status.steps}
        found["shards"] = _shards_per_worker(db.url)
        with session(db.url) as conn:
            found["plans"] = explain_models(conn, db.target, HEAVY_MODELS)

    try:
        code = bench_close(
            cluster.url("postgres"),
            database=_cluster_database(cluster),
            with_floors=False,
            after=inspect,
            **bench,
        )
    finally:
        sampler.stop()
        cluster.down(delete=True)
    _report(single, found)
    return code


def _report(single: dict[str, float], found: dict) -> None:
    steps = found.get("steps", {})
    print("\n== the measured day, side by side ==")
    print(f"  {'step':<22} {'single Postgres':>16} {'Citus':>10}")
    for name, seconds in steps.items():
        print(f"  {name:<22} {single.get(name, float('nan')):15.2f}s {seconds:9.2f}s")
    print(f"\n  shards of each distributed table: {found.get('shards', '?')}")
    print("  CPU seconds of each node's Postgres, per stage of the close (steps side by side")
    print("  form one stage); the flow process, dbt and the simulators are not counted:")
    print(f"  {'stage':<58} {'wall':>6} {'coordinator':>12} {'worker1':>8} {'worker2':>8}")
    totals = {"coordinator": 0.0, "worker1": 0.0, "worker2": 0.0}
    for names, wall, used in found.get("stages", []):
        print(
            f"  {names[:58]:<58} {wall:5.1f}s {used.get('coordinator', 0):11.1f}s "
            f"{used.get('worker1', 0):7.1f}s {used.get('worker2', 0):7.1f}s"
        )
        for node in totals:
            totals[node] += used.get(node, 0.0)
    print(
        f"  {'all stages':<58} {'':>6} {totals['coordinator']:11.1f}s "
        f"{totals['worker1']:7.1f}s {totals['worker2']:7.1f}s"
    )
    workers = totals["worker1"] + totals["worker2"]
    if workers:
        print(
            f"  the workers' shares: {100 * totals['worker1'] / workers:.0f}% / "
            f"{100 * totals['worker2'] / workers:.0f}%; the coordinator's share of all the "
            f"nodes' CPU: {100 * totals['coordinator'] / (workers + totals['coordinator']):.0f}%"
        )
    print("\n  distributed plans of the heaviest models (EXPLAIN of their INSERT ... SELECT):")
    for plan in found.get("plans", []):
        print(f"  - {plan.model}: {plan.describe()}")
