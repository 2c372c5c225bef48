"""The experiments: each names its faults, where they strike, and what must hold.

A scenario starts from a fresh copy of the template (every date but the last
closed), injects its faults into closes of the last date, re-runs the close, and is
compared with the reference close (eod.devkit.chaos.compare). Faults that strike
points further and further into the close run one after the other on the same copy,
each re-run starting where the previous fault left it (a SIGKILL at every boundary
costs one close, not one each); the re-run after the last of them must equal the
reference, so every fault of the series is covered by that comparison. Some
scenarios check an invariant along the way too: a capture that failed wrote
nothing, freezes did not wait for the pager, a deposed leader wrote nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eod.devkit.chaos import compare
from eod.devkit.chaos.harness import Harness, wait_for
from eod.devkit.chaos.strike import DBT_NODES_BEFORE_STRIKE

N = DBT_NODES_BEFORE_STRIKE


@dataclass
class Outcome:
    injected: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # invariants broken along the way


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[tuple[str, str], ...]  # (fault as the table shows it, point or mode)
    inject: Callable[[Harness, Scenario], Outcome]


@dataclass
class Result:
    scenario: str
    injected: dict[str, bool]
    problems: list[str]
    differences: dict[str, str]
    seconds: float

    @property
    def consistent(self) -> bool:
        return not self.problems and not self.differences

    def explain(self) -> str:
        lines = [f"{self.scenario}:"]
        lines += [f"  not injected: {f}" for f, done in self.injected.items() if not done]
        lines += [f"  {p}" for p in self.problems]
        lines += [
            f"  {aspect} differs from the reference: {d}" for aspect, d in self.differences.items()
        ]
        return "\n".join(lines)


def run(harness: Harness, scenario: Scenario) -> Result:
    started = time.monotonic()
    harness.fresh_copy()
    outcome = scenario.inject(harness, scenario)
    differences = harness.differences()
    return Result(
        scenario.name,
        outcome.injected,
        outcome.problems,
        differences,
        round(time.monotonic() - started, 1),
    )


# -- SIGKILL -----------------------------------------------------------------------------


def _kills(harness: Harness, scenario: Scenario) -> Outcome:
    """A close in a child process per point, each killed there; then a re-run here."""
    out = Outcome()
    for fault, point in scenario.faults:
        child = harness.close_in_child(point, "kill")
        out.injected[fault] = child.struck == point and child.returncode == -9
    code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the re-run failed: {failure}")
    return out


SIGKILL = Scenario(
    "SIGKILL of the close",
    (
        ("SIGKILL mid capture_registry (its COPY under way)", "capture_registry:streaming"),
        ("SIGKILL with the registry landed, before its record", "capture_registry:written"),
        (f"SIGKILL mid dbt_build_trading (after {N} nodes)", f"dbt_build_trading:node{N}"),
        (
            "SIGKILL at the boundary after capture_registry, dbt_build_trading",
            "after:dbt_build_trading",
        ),
        ("SIGKILL at the boundary after capture_custody", "after:capture_custody"),
        ("SIGKILL at the boundary after capture_staking", "after:capture_staking"),
        (f"SIGKILL mid dbt_build (after {N} nodes)", f"dbt_build:node{N}"),
        ("SIGKILL with dbt_build done, before its record", "dbt_build:written"),
        ("SIGKILL at the boundary after dbt_build", "after:dbt_build"),
        ("SIGKILL with the fee journal written, not committed", "post_fee_journal:written"),
        (
            "SIGKILL mid proof_of_reserves (trees built, roots not published)",
            "proof_of_reserves:trees",
        ),
        (
            "SIGKILL at the boundary after the postings and proof of reserves",
            "after:proof_of_reserves",
        ),
        ("SIGKILL with the freezes written, not committed", "reconcile:written"),
        ("SIGKILL at the boundary after reconcile", "after:reconcile"),
        ("SIGKILL at the boundary after finalise_closures", "after:finalise_closures"),
    ),
    _kills,
)


# -- Postgres crashes --------------------------------------------------------------------


def _restarts(harness: Harness, scenario: Scenario) -> Outcome:
    """A close per point in a process of its own, paused there while Postgres restarts
    immediately, then let go on its broken connections to the end of that stage
    (where it stops, whether the stage survived or not); then a re-run."""
    out = Outcome()
    for fault, point in scenario.faults:
        pid, signal_file = harness.start_child(point, "pause-then-stop")
        reached = wait_for(signal_file, pid)
        if reached:
            harness.postgres.restart_immediately()
            signal_file.with_name(signal_file.name + ".go").touch()
        harness.wait_child()
        out.injected[fault] = reached
    rerun = harness.close_in_child(None)
    if rerun.returncode not in (0, 1):
        out.problems.append(f"the re-run exited {rerun.returncode}")
    return out


POSTGRES = Scenario(
    "Postgres restarted (immediate) during each step",
    tuple(
        (f"Postgres restart (immediate) during {step}", point)
        for step, point in (
            ("capture_registry", "capture_registry:streaming"),
            ("dbt_build_trading", f"dbt_build_trading:node{N}"),
            ("capture_custody", "capture_custody:validating"),
            ("capture_staking", "capture_staking:written"),
            ("dbt_build", f"dbt_build:node{N}"),
            ("post_fee_journal", "post_fee_journal:written"),
            ("post_staking_payouts", "post_staking_payouts:written"),
            ("proof_of_reserves", "proof_of_reserves:trees"),
            ("reconcile", "reconcile:written"),
            ("finalise_closures", "finalise_closures:written"),
            ("close", "close:written"),
        )
    ),
    _restarts,
)


# -- external systems --------------------------------------------------------------------


@contextlib.contextmanager
def _impatient_http():
    """The captures' HTTP client gives up after 0.5 s instead of 30 s (a timeout fault
    then costs seconds; the simulators stall 3 s)."""
    import eod.capture.http as http

    saved = http.TIMEOUT_S, http.BACKOFF_S
    http.TIMEOUT_S, http.BACKOFF_S = 0.5, 0.1
    try:
        yield
    finally:
        http.TIMEOUT_S, http.BACKOFF_S = saved


def _service_faults(harness: Harness, scenario: Scenario) -> Outcome:
    """Each fault of custody, then of the chain's JSON-RPC, fails its capture (which
    must write nothing); the re-run with healthy services completes."""
    out = Outcome()
    with _impatient_http():
        for fault, mode in scenario.faults:
            system, kind = mode.split(":")
            step, table, named = (
                ("capture_custody", "eod.custody_balances", "custody")
                if system == "custody"
                else ("capture_staking", "eod.onchain_staking", "staking RPC")
            )
            harness.sims.custody_fault = kind if system == "custody" else None
            harness.sims.rpc_fault = kind if system == "rpc" else None
            code, failure = harness.close_here()
            out.injected[fault] = bool(failure) and step in failure
            if failure and named not in failure:
                out.problems.append(f"{fault}: the failure does not name {named}: {failure}")
            landed = harness.fetch(
                f"select count(*) from {table} where business_date = %s", (harness.day,)
            )[0][0]
            posted = harness.fetch(
                "select count(*) from exchange.ledger_entries where reference_type = "
                "'fee_journal' and business_date = %s",
                (harness.day,),
            )[0][0]
            if landed or posted:
                out.problems.append(f"{fault}: the failed capture wrote ({table}, postings)")
        harness.sims.custody_fault = harness.sims.rpc_fault = None
        code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the re-run failed: {failure}")
    return out


SERVICES = Scenario(
    "custody and JSON-RPC misbehaving",
    tuple(
        (f"{label} {what}", f"{system}:{kind}")
        for system, label in (("custody", "custody"), ("rpc", "JSON-RPC"))
        for kind, what in (
            ("500", "answering 500"),
            ("stall", "timing out"),
            ("truncated", "reply truncated"),
            ("malformed", "reply malformed"),
            ("drop", "closing the connection unanswered"),
        )
    ),
    _service_faults,
)


def _nats_outage(harness: Harness, scenario: Scenario) -> Outcome:
    """NATS is stopped for a whole close, then started again; the re-run delivers."""
    out = Outcome()
    ((fault, _),) = scenario.faults
    harness.nats.stop()
    code, failure = harness.close_here()
    pending = harness.fetch(
        "select count(*) from eod.outbox where published_at is null and seq > %s",
        (harness.outbox_start,),
    )[0][0]
    out.injected[fault] = pending > 0
    if failure:
        out.problems.append(f"the close failed while NATS was down: {failure}")
    harness.nats.start()
    code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the re-run failed: {failure}")
    return out


NATS = Scenario(
    "NATS outage",
    (("NATS stopped during the close, restarted after it", "nats"),),
    _nats_outage,
)

DUPLICATE_WINDOW_S = 1.0


def _relay(harness: Harness, scenario: Scenario) -> Outcome:
    """The close killed before its relay, then a relay killed mid-batch, restarted
    after JetStream's duplicate window (1 s here) has passed: JetStream can no longer
    drop what is sent twice."""
    out = Outcome()
    harness.nats.reset_stream(duplicate_window_s=DUPLICATE_WINDOW_S)
    for fault, point in scenario.faults:
        child = harness.close_in_child(point, "kill")
        out.injected[fault] = child.struck == point and child.returncode == -9
    time.sleep(DUPLICATE_WINDOW_S * 1.5)
    code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the re-run failed: {failure}")
    return out


RELAY = Scenario(
    "the outbox relay killed",
    (
        ("SIGKILL after the close step, before its relay", "relay:start"),
        (
            "relay killed mid-batch (4 events sent), restarted after the duplicate window",
            "relay:publish5",
        ),
    ),
    _relay,
)

PAGER_SLOW_S = 3.0


def _frozen_users(harness: Harness) -> set[int]:
    """The users the reference close froze (suspended then, not before it)."""
    now = dict(harness.fetch("select user_id, status::text from exchange.users"))
    return {
        user
        for user, status in harness.reference.states.items()
        if status == "suspended" and now.get(user) != "suspended"
    }


def _pager_down(harness: Harness, scenario: Scenario) -> Outcome:
    """The pager is unreachable for a whole close: the freezes must not wait for it;
    once it is back and the page's backoff has passed, the re-run delivers it."""
    out = Outcome()
    ((fault, _),) = scenario.faults
    expected = _frozen_users(harness)
    harness.pager.mode = "down"
    code, failure = harness.close_here()
    out.injected[fault] = bool(harness.pager.attempts) and not harness.pager.events
    frozen = _suspended(harness, expected)
    if failure or frozen != expected:
        out.problems.append(
            f"with the pager down the close froze {len(frozen)} of {len(expected)} users"
            + (f" and failed: {failure}" if failure else "")
        )
    harness.pager.mode = "up"
    # a page that failed waits out its backoff before the next attempt
    due = harness.fetch(
        """select coalesce(extract(epoch from max(next_attempt_at) - now()), 0)
           from eod.page_outbox where accepted_at is null and refused_at is null"""
    )[0][0]
    time.sleep(min(max(float(due), 0.0), 60.0) + 0.2)
    code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the re-run failed: {failure}")
    return out


def _suspended(harness: Harness, users: set[int]) -> set[int]:
    rows = harness.fetch(
        "select user_id from exchange.users where status = 'suspended' and user_id = any(%s)",
        (sorted(users),),
    )
    return {user for (user,) in rows}


PAGER_DOWN = Scenario("pager down", (("pager down during the close", "pager-down"),), _pager_down)


def _pager_slow(harness: Harness, scenario: Scenario) -> Outcome:
    """Each page is answered after 3 s; while the pager holds the ledger-break page,
    the freezes it is about must already be committed (seen from another session)."""
    out = Outcome()
    ((fault, _),) = scenario.faults
    expected = _frozen_users(harness)
    seen: list[bool] = []

    def probe(raw: bytes) -> None:
        if b"me_ledger" in raw:
            seen.append(_suspended(harness, expected) == expected)

    harness.pager.slow_s = PAGER_SLOW_S
    harness.pager.mode = "slow"
    harness.pager.observe = probe
    code, failure = harness.close_here()
    harness.pager.mode = "up"
    harness.pager.observe = None
    out.injected[fault] = bool(seen)
    if not all(seen):
        out.problems.append("the ledger-break page was sent before the freezes committed")
    if failure:
        out.problems.append(f"the close failed with a slow pager: {failure}")
    code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the re-run failed: {failure}")
    return out


PAGER_SLOW = Scenario(
    "pager slow",
    ((f"pager answering after {PAGER_SLOW_S:.0f} s", "pager-slow"),),
    _pager_slow,
)


# -- leadership --------------------------------------------------------------------------


def _lost_leader(harness: Harness, scenario: Scenario) -> Outcome:
    """Leader A pauses mid-step; its lock connection is terminated; leader B closes the
    date; A resumes and must write nothing (refused by the fencing token)."""
    out = Outcome()
    ((fault, point),) = scenario.faults
    pid, signal_file = harness.start_child(point, "pause")
    reached = wait_for(signal_file, pid)
    terminated = harness.fetch(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity "
        "where application_name like 'eod-close-leader%%'"
    )[0][0]
    out.injected[fault] = reached and terminated == 1
    code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the new leader's close failed: {failure}")
    before = compare.physical(harness.run_url)
    signal_file.with_name(signal_file.name + ".go").touch()
    deposed = harness.wait_child(120)
    if deposed is None:  # still running: stop it, say so
        os.kill(pid, signal.SIGKILL)
        harness.wait_child()
        out.problems.append("the deposed leader did not end within 120 s of resuming")
    after = compare.physical(harness.run_url)
    written = sorted(t for t in before if before[t] != after.get(t))
    if written:
        out.problems.append(f"the deposed leader wrote after losing its lock: {written}")
    if deposed == 0:
        out.problems.append("the deposed leader exited 0")
    code, failure = harness.close_here()
    if failure:
        out.problems.append(f"the re-run failed: {failure}")
    return out


LEADER = Scenario(
    "leader losing its lock",
    (
        (
            "leader's lock connection killed mid capture_custody; a new leader closes the date",
            "capture_custody:validating",
        ),
    ),
    _lost_leader,
)

# Postgres last: a crash recovery empties every unlogged table of the server, the
# template's included.
SCENARIOS = (SIGKILL, SERVICES, NATS, RELAY, PAGER_DOWN, PAGER_SLOW, LEADER, POSTGRES)
