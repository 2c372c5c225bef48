"""How Citus runs a model's build: its distributed plan, read from EXPLAIN.

A model's rows are written by `INSERT INTO <its table> <its query>` (macros/citus), so
the plan that matters is that statement's. EXPLAIN (not ANALYZE: nothing runs) says
how Citus splits it:

- pushed down: one task per shard, each reading and writing its own shards; every
  join inside a task is between co-located shards (or with a reference table's copy);
- repartitioned: one task per shard of the source, each sending its rows to the
  target's shards worker to worker (the target is keyed differently);
- through the coordinator: the rows are gathered on the coordinator and sent on;
- subplans: parts Citus runs first and ships to the tasks as intermediate results.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_SHARD_SUFFIX = re.compile(r"_\d{6,}$")


@dataclass
class ModelPlan:
    model: str
    method: str
    tasks: int
    subplans: int
    shard_joins: list[str] = field(default_factory=list)

    def describe(self) -> str:
        joins = "; ".join(self.shard_joins) or "none"
        extra = f", {self.subplans} subplan(s) first" if self.subplans else ""
        return f"{self.method}, {self.tasks} task(s){extra}; joins inside a task: {joins}"


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _relations(node, reference: set[str]) -> list[str]:
    names = []
    for child in _walk(node):
        name = child.get("Relation Name")
        if name:
            table = _SHARD_SUFFIX.sub("", name)
            names.append(f"{table} (reference)" if table in reference else table)
        elif child.get("Node Type") == "Values Scan":
            names.append("a values list")
        elif child.get("Function Name") == "read_intermediate_result":
            names.append("a subplan's result")
    return names


def _joins(remote_plan, reference: set[str]) -> list[str]:
    found = []
    for node in _walk(remote_plan):
        if "Join Type" not in node or "Plans" not in node:
            continue
        sides = [" + ".join(dict.fromkeys(_relations(p, reference))) for p in node["Plans"]]
        kind = f"{node['Join Type'].lower()} {node['Node Type'].lower()}"
        found.append(f"{kind} ({' x '.join(sides)})")
    return found


def summarise(model: str, explained: list, reference: set[str]) -> ModelPlan:
    """A ModelPlan from `EXPLAIN (FORMAT JSON)` of the model's INSERT ... SELECT."""
    top = explained[0]["Plan"]
    method = top.get("INSERT/SELECT method")
    jobs = [n["Distributed Query"] for n in _walk(top) if "Distributed Query" in n]
    outer = jobs[0] if jobs else {}
    tasks = int(outer.get("Job", {}).get("Task Count", 0))
    subplans = len(outer.get("Subplans", []) or [])
    if method == "repartition":
        described = "repartitioned between workers"
    elif method == "pull to coordinator":
        described = "through the coordinator"
    elif tasks > 1:
        described = "pushed down, shard by shard"
    else:
        described = "one task (a reference table or one shard)"
    task_list = outer.get("Job", {}).get("Tasks", [])
    # the task of the SELECT that feeds an INSERT ... SELECT, else the job's own task
    select_jobs = [
        n["Distributed Query"]
        for n in _walk(top.get("Select Query", []))
        if "Distributed Query" in n
    ]
    if select_jobs:
        select_job = select_jobs[0].get("Job", {})
        tasks = int(select_job.get("Task Count", tasks))
        task_list = select_job.get("Tasks", task_list)
        subplans += len(select_jobs[0].get("Subplans", []) or [])
    remote = task_list[0].get("Remote Plan") if task_list else None
    joins = _joins(remote, reference) if remote else []
    return ModelPlan(model, described, tasks, subplans, joins)


def compiled_sql(target_path: str | Path, model: str) -> str:
    """A model's compiled query from dbt's target folder."""
    found = sorted(Path(target_path, "compiled").rglob(f"models/**/{model}.sql"))
    if not found:
        raise FileNotFoundError(f"no compiled SQL for {model} under {target_path}")
    return found[0].read_text()


def explain_models(conn, target_path: str | Path, models: dict[str, str]) -> list[ModelPlan]:
    """The plan of each model (name -> its table) as dbt last compiled it."""
    with conn.cursor() as cur:
        cur.execute(
            """select logicalrelid::regclass::text from pg_dist_partition
               where partmethod = 'n' and repmodel = 't'"""
        )
        reference = {row[0].rsplit(".", 1)[-1] for row in cur.fetchall()}
        plans = []
        for model, table in models.items():
            cur.execute(
                f"explain (costs off, format json) insert into {table} "
                f"{compiled_sql(target_path, model)}"
            )
            explained = cur.fetchone()[0]
            if isinstance(explained, str):
                explained = json.loads(explained)
            plans.append(summarise(model, explained, reference))
    return plans
