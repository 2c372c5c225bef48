"""The close's `dbt build` for one business date, through dbt's Python runner.

The build comes in two parts that together are the whole project (a test checks they
partition it):

- `BEFORE_CAPTURES`: every node that does not read the captures (trades, ledger,
  fees, tiers, cost and P&L, staking, the journals). The close builds it while the
  registry streams in: it needs nothing the capture brings.
- `AFTER_CAPTURES`: the captures' staging models and everything downstream of them
  (snapshots with their leaf hashes, the reconciliations) with their tests.

Every node's outcome goes to the flow run's log as it finishes. A failing test tagged
`reconciliation` is a break, not an error: the build step still succeeds, and the
breaks are acted on (and make `eod close` exit non-zero). Any other failure or error
fails the step.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from eod.close.leader import Deposed, deposed
from eod.config import PROJECT_DIR
from eod.db import application_name
from eod.dbt import (
    CITUS_VAR,
    FIRST_DATE_VAR,
    chain_first_date,
    in_project,
    parse_in_background,
    parsed_runner,
    warehouse_is_citus,
)
from eod.errors import EodError, first_line

log = logging.getLogger(__name__)

RECON_TAG = "reconciliation"

# The captures' staging models and, by the trailing +, everything built from them.
_CAPTURES_AND_DOWNSTREAM = (
    "stg_capture__me_balances+",
    "stg_capture__custody_balances+",
    "stg_capture__onchain_staking+",
)
BEFORE_CAPTURES = ("--exclude", *_CAPTURES_AND_DOWNSTREAM)
AFTER_CAPTURES = ("--select", *_CAPTURES_AND_DOWNSTREAM)
WHOLE_PROJECT: tuple[str, ...] = ()
FENCING_VAR = "fencing_token"


class DbtBuildFailed(EodError):
    """dbt build failed for a reason other than a reconciliation break."""


@dataclass
class NodeOutcome:
    unique_id: str
    status: str
    failures: int | None
    seconds: float
    message: str | None
    is_reconciliation: bool


@dataclass
class BuildOutcome:
    nodes: list[NodeOutcome] = field(default_factory=list)

    @property
    def errors(self) -> list[NodeOutcome]:
        return [
            n
            for n in self.nodes
            if n.status in ("error", "runtime error")
            or (n.status == "fail" and not n.is_reconciliation)
        ]

    @property
    def breaks(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.status == "fail" and n.is_reconciliation]

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.status] = counts.get(n.status, 0) + 1
        return {
            "nodes": counts,
            "breaks": [{"test": n.unique_id, "failures": n.failures} for n in self.breaks],
            "seconds": round(sum(n.seconds for n in self.nodes), 3),
        }


def target_path() -> str:
    """dbt's target directory for the close's builds (EOD_DBT_TARGET_PATH or target/)."""
    return str(Path(os.environ.get("EOD_DBT_TARGET_PATH", PROJECT_DIR / "target")))


def prepare(database_url: str) -> threading.Thread:
    """Start parsing the project for the close's builds while the close starts up; the
    caller joins the thread before it returns, so no parse outlives the close."""
    return parse_in_background(database_url, target_path())


def build_args(
    business_date: date,
    first_business_date: date,
    target_path: str | None = None,
    part: tuple[str, ...] = WHOLE_PROJECT,
    citus: bool = False,
    fencing_token: int | None = None,
) -> list[str]:
    """The arguments of D's build. `first_business_date` is the first date of the close
    chain (eod.dbt.chain_first_date): D is built as the chain's first close when it is
    D, and carries D-1's state otherwise. `fencing_token`, the close's, is checked by
    every node in its own transaction (macros/check_fence)."""
    # Unit tests check the models' logic, not the day's data: `make test` runs them,
    # the daily close does not.
    # --quiet: dbt's own console output is replaced by the per-node callback's log
    args = [
        "--quiet",
        "build",
        *part,
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        json.dumps(
            {
                "business_date": business_date.isoformat(),
                FIRST_DATE_VAR: first_business_date.isoformat(),
                # on a Citus coordinator, the models' per-shard forms
                **({CITUS_VAR: True} if citus else {}),
                **({FENCING_VAR: fencing_token} if fencing_token is not None else {}),
            }
        ),
    ]
    if target_path:
        args += ["--target-path", target_path]
    return args


def _node_logger(logger):
    """A dbt callback logging each node's outcome as it finishes."""

    def on_event(event) -> None:
        if event.info.name != "NodeFinished":
            return
        node = event.data.node_info
        seconds = event.data.run_result.execution_time
        logger.info("dbt %s %s (%.2fs)", node.node_status, node.unique_id, seconds)

    return on_event


def _logger():
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # outside a flow run
        return log


def run_build(
    database_url: str,
    business_date: date,
    part: tuple[str, ...] = WHOLE_PROJECT,
    first_business_date: date | None = None,
    fencing_token: int | None = None,
) -> BuildOutcome:
    """Run `dbt build` for D (or a part of it); raise DbtBuildFailed unless the only
    failures are breaks, Deposed when a node was refused for a stale fencing token.

    The chain's first date, unless given, is read from the database (the earliest date
    closed or built, D itself when none is earlier). dbt runs in this process through
    its programmatic runner; a callback logs every node's outcome to the flow run's log
    as it finishes.
    """
    if first_business_date is None:
        first_business_date = chain_first_date(database_url, business_date)
    # dbt's connections are opened by libpq, which names them from PGAPPNAME: the
    # step's name, for its watchdog. Only one dbt build runs at a time in a close.
    os.environ["PGAPPNAME"] = application_name()
    target = target_path()
    runner = parsed_runner(database_url, target, callbacks=[_node_logger(_logger())])
    args = build_args(
        business_date,
        first_business_date,
        target,
        part,
        warehouse_is_citus(database_url),
        fencing_token,
    )
    with in_project():
        result = runner.invoke(args)
    outcome = _outcome(result)
    for refused in [*(n.message for n in outcome.errors), str(result.exception or "")]:
        if deposed(refused):
            raise Deposed(deposed(refused))
    if result.exception is not None and not outcome.nodes:
        raise DbtBuildFailed(f"dbt build for {business_date} did not run: {result.exception}")
    if outcome.errors:
        raise DbtBuildFailed(failure_reason(outcome.errors))
    return outcome


# dbt's own lines around the database's reason: "Database Error in model x (path)"
# before it, "compiled code at target/..." after it.
_DBT_FRAMING = (
    "database error in ",
    "compilation error in ",
    "runtime error in ",
    "compiled code at ",
)


def failure_reason(errors: list[NodeOutcome]) -> str:
    """One line naming the node that failed and the database's reason, e.g. `model
    int_x: canceling statement due to statement timeout`; a model's error before a
    test's (a test fails because its model did), and how many more failed."""
    first = sorted(errors, key=lambda n: not n.unique_id.startswith("model."))[0]
    kind, _, name = first.unique_id.partition(".")
    name = name.partition(".")[2].split(".")[0] or first.unique_id
    lines = [line.strip() for line in (first.message or "").splitlines() if line.strip()]
    reasons = [line for line in lines if not line.lower().startswith(_DBT_FRAMING)]
    reason = reasons[0] if reasons else first_line(first.message, first.status)
    more = f" (and {len(errors) - 1} more node(s))" if len(errors) > 1 else ""
    return f"{kind} {name}: {reason}{more}"


def _outcome(result) -> BuildOutcome:
    outcome = BuildOutcome()
    run = getattr(result, "result", None)
    for res in getattr(run, "results", None) or []:
        node = res.node
        tags = set(getattr(node, "tags", []) or []) | set(
            getattr(getattr(node, "config", None), "tags", []) or []
        )
        outcome.nodes.append(
            NodeOutcome(
                unique_id=node.unique_id,
                status=str(getattr(res.status, "value", res.status)),
                failures=getattr(res, "failures", None),
                seconds=float(getattr(res, "execution_time", 0.0) or 0.0),
                message=getattr(res, "message", None),
                is_reconciliation=RECON_TAG in tags,
            )
        )
    return outcome
