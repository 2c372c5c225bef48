"""`eod bench close`: the wall time of every step of a day's close, its peak memory, and a
hand-written SQL floor for the same work, timed in the same run.

A generated exchange (by default 1M users, about 3M accounts, 1M trades a day, 30
days) is loaded into a database of its own. The days before the last two are taken as
closed by a previous system: their fee journals are posted directly, as that system
would have. The second-to-last day is closed first (untimed: it starts the chain and
builds the carried state from all history); the last day is the measured, steady-state
close, run in a child process whose peak memory is its own.

Targets: the close within 2x the floor plus 30 s of fixed orchestration; peak memory
of the flow process under 2 GiB; the proof-of-reserves trees within 60 s. The bench
runs with the `00:00 UTC` cutover, which the prior fee journals assume.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import date

import psycopg2

from eod.close.status import close_status
from eod.config import PROJECT_DIR
from eod.devkit.bench.database import bench_database
from eod.devkit.bench.floors import CLOSE, CLOSE_SAME_WORK, timed

BENCH_CUTOVER = "00:00 UTC"

PRIOR_FEE_JOURNALS = """
insert into exchange.ledger_entries
    (journal_id, user_id, account, currency, amount, reference_type, reference_id,
     business_date, effective_at, created_by)
select md5('fee_journal|' || d || '|' || user_id || '|' || currency)::uuid, leg_user, account,
       currency, amount, 'fee_journal', d || ':' || user_id || ':' || currency,
       d::date, (d::date + 1)::timestamptz, 'previous-close'
from (
    select to_char(f.business_date, 'YYYY-MM-DD') as d, f.user_id, f.currency, f.fees
    from (
        select business_date, user_id, fee_currency as currency, sum(fee) as fees
        from (
            select t.executed_at, t.maker_user_id as user_id, t.fee_currency, t.maker_fee as fee
            from exchange.trades t where t.executed_at < %(until)s
            union all
            select t.executed_at, t.taker_user_id, t.fee_currency, t.taker_fee
            from exchange.trades t where t.executed_at < %(until)s
        ) legs
        cross join lateral (select (legs.executed_at at time zone 'UTC')::date as business_date) b
        group by 1, 2, 3
        having sum(fee) <> 0
    ) f
) j
cross join lateral (values
    (j.user_id, 'user', j.currency, -j.fees),
    (null::bigint, 'house:fee_revenue', j.currency, j.fees)
) as legs(leg_user, account, currency_, amount)
"""


def _run_child(day: date, env: dict[str, str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    subprocess.run(
        [sys.executable, "-m", "eod.devkit.bench.child", day.isoformat(), out],
        env=env,
        cwd=PROJECT_DIR,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    with open(out) as fh:
        figures = json.load(fh)
    os.unlink(out)
    return figures


def _step_runs(url: str, day: date) -> tuple[list[tuple[str, float, float, float]], dict]:
    """(step, seconds, started, finished) of D's steps, times as epoch seconds, and
    each step's recorded detail by name."""
    (status,) = close_status(url, [day])
    steps = [
        (s.step_name, float(s.seconds), s.started_at.timestamp(), s.finished_at.timestamp())
        for s in status.steps
    ]
    return steps, {s.step_name: s.detail for s in status.steps}


def _por_workers(detail: dict) -> tuple[int | None, float | None]:
    """(worker processes, their largest peak MiB) from the proof-of-reserves step's
    detail."""
    if detail.get("workers") is None:
        return None, None
    peak = detail.get("workers_peak_mib")
    return int(detail["workers"]), float(peak) if peak is not None else None


def _covered(intervals: list[tuple[float, float]]) -> float:
    """Seconds of wall time inside at least one interval: steps that ran side by side
    count once."""
    total, reached = 0.0, float("-inf")
    for began, ended in sorted(intervals):
        if ended > reached:
            total += ended - max(began, reached)
            reached = ended
    return round(total, 2)


def _step_peak(samples: list[list[float]], started: float, finished: float) -> str:
    inside = [mib for at, mib in samples if started <= at <= finished]
    return f"{max(inside):8,.0f} MiB" if inside else ""


def _around_steps(measured: dict, steps: list[tuple[str, float, float, float]]) -> str:
    """Where the orchestration went: before the first step began (Prefect's server
    start, the leader's election) and after the last one ended (the relay, the
    report)."""
    if not steps or "started_at" not in measured:
        return ""
    before = min(began for _, _, began, _ in steps) - measured["started_at"]
    after = measured["finished_at"] - max(ended for _, _, _, ended in steps)
    return f": {before:.2f}s before the first step, {after:.2f}s after the last"


def _step_cores(cpu: list[list[float]], started: float, finished: float) -> str:
    """Mean busy cores of the machine while the step ran: under the core count, the
    step left CPU idle that another step could have used."""
    inside = [cores for at, cores in cpu if started <= at <= finished]
    return f"{sum(inside) / len(inside):5.2f}" if inside else ""


def bench_close(
    server_url: str,
    *,
    users: int,
    days: int,
    trades_per_day: int,
    seed: int,
    start: date,
    keep: bool = False,
    database=bench_database,
    with_floors: bool = True,
    after=None,
) -> int:
    """Print the close of the bench's last day, step by step. `database` makes the
    bench's own database (eod.devkit.bench.database.bench_database; the Citus bench
    passes one that creates it on every node), `with_floors` times the SQL floors beside it,
    and `after(bench, day)`, when given, runs before the database is dropped."""
    from eod.business_date import Cutover
    from eod.devkit.generate import Options, generate
    from eod.devkit.simulators import start_simulators
    from eod.devkit.simulators.pager import PagerSimulator
    from eod.migrations import migrate

    cutover = Cutover.parse(BENCH_CUTOVER)
    with database(server_url, "eod_bench_close", keep=keep) as bench:
        url = bench.url
        migrate(url)
        opts = Options(
            seed=seed,
            users=users,
            days=days,
            trades_per_day=trades_per_day,
            start=start,
            cutover=cutover,
            registry_days=2,
        )
        t0 = time.perf_counter()
        result = generate(url, opts)
        print(
            f"generated {users:,} users, {result.counts.get('accounts', 0):,} accounts, "
            f"{trades_per_day:,} trades/day x {days} days in {time.perf_counter() - t0:.0f}s"
        )
        warm, last = opts.dates[-2], opts.dates[-1]
        t0 = time.perf_counter()
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(PRIOR_FEE_JOURNALS, {"until": cutover.window(warm)[0]})
        print(
            f"posted the fee journals of the {days - 2} days closed before "
            f"({time.perf_counter() - t0:.0f}s)"
        )
        sims = start_simulators(url)
        pager = PagerSimulator().start()
        env = dict(os.environ)
        env.update(
            sims.environment(),
            EOD_DATABASE_URL=url,
            EOD_PAGER_URL=pager.url,
            EOD_PAGER_ROUTING_KEY="bench",
            EOD_POR_SECRET=secrets.token_hex(32),
            EOD_DBT_TARGET_PATH=bench.target,
            PREFECT_LOGGING_LEVEL="WARNING",
            EOD_CUTOVER=BENCH_CUTOVER,
        )
        try:
            first = _run_child(warm, env)
            print(
                f"warm-up close of {warm} (starts the chain, builds from all history): "
                f"{first['wall_s']}s, exit {first['exit_code']}"
            )
            measured = _run_child(last, env)
        finally:
            sims.stop()
            pager.stop()
        floors = (
            {
                "the minimal aggregates": timed(url, last, cutover, CLOSE),
                "the same work": timed(url, last, cutover, CLOSE_SAME_WORK),
            }
            if with_floors
            else {}
        )
        steps, details = _step_runs(url, last)
        print(
            f"\nclose of {last} (exit {measured['exit_code']}"
            f"{', ' + measured['error'] if measured['error'] else ''})"
        )
        samples = measured.get("rss_samples") or []
        cpu = measured.get("cpu_samples") or []
        print(
            f"  {'step':<22} {'seconds':>10} {'peak resident':>14} "
            f"{'busy cores of ' + str(os.cpu_count()):>16}"
        )
        for step, seconds, began, ended in steps:
            print(
                f"  {step:<22} {seconds:9.2f}s {_step_peak(samples, began, ended):>14} "
                f"{_step_cores(cpu, began, ended):>16}"
            )
        in_steps = _covered([(began, ended) for _, _, began, ended in steps])
        print(f"  {'steps, wall time':<22} {in_steps:9.2f}s (steps side by side counted once)")
        print(
            f"  {'process wall time':<22} {measured['wall_s']:9.2f}s "
            f"(orchestration {measured['wall_s'] - in_steps:.2f}s{_around_steps(measured, steps)})"
        )
        print(
            f"  peak memory of the flow process {measured['peak_rss_mib']:,.0f} MiB (target < 2048)"
        )
        for floor_name, floor in floors.items():
            floor_total = sum(floor.values())
            print(f"\nSQL floor, {floor_name}, same day, same run")
            for step, seconds in floor.items():
                print(f"  {step:<22} {seconds:9.2f}s")
            print(f"  {'floor total':<22} {floor_total:9.2f}s")
            budget = 2 * floor_total + 30
            print(
                f"steps / floor {in_steps / floor_total:.2f}; close {measured['wall_s']:.1f}s "
                f"against the target 2 x floor + 30 s = {budget:.1f}s: "
                f"{'met' if measured['wall_s'] <= budget else 'not met'}"
            )
        por = {step: seconds for step, seconds, _, _ in steps}.get("proof_of_reserves")
        if por is not None:
            print(f"proof-of-reserves trees (all currencies): {por:.1f}s (target < 60)")
            workers, peak = _por_workers(details.get("proof_of_reserves", {}))
            if workers and peak:
                # the trees are built in worker processes: their memory is theirs, not
                # the flow's, and is reported beside it
                print(f"  built by {workers} worker processes, peak {peak:,.0f} MiB each")
        if after is not None:
            after(bench, last)
        return 0
