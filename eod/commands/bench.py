"""`eod bench close|models`: benchmarks that print their figures.

`eod bench close` times a day's whole close (see eod.devkit.bench.close). `eod bench models`
measures how the EOD models' build time grows with history:

Generates an exchange (by default about 200k users and 500k trades a day over 30
days) in a database of its own, closes every day in order with `dbt build` (each day
needs the previous day's state), and prints the build time of day 1 and of the last
day, their ratio, and two hand-written SQL floors for the last day (see
eod.devkit.bench.floors): the floor, the least SQL computing the same aggregates as the
marts; and beside it the minimal aggregate queries over that day's trades and
ledger, which leave most of the marts out. Targets: last/first at most 1.2; build at
most twice the floor (the floors have none of dbt's fixed per-node overhead, its
tests or its persistence).
"""

from __future__ import annotations

import secrets
import time
from datetime import date

from eod.business_date import parse_date
from eod.context import Context
from eod.db import session
from eod.errors import InputError


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks that print figures")
    which = bench.add_subparsers(dest="bench", metavar="{close,models,posting,chaos}")
    # plain `eod bench` is the close benchmark at its default scale
    bench.set_defaults(
        handler=_bench_close,
        users=1_000_000,
        trades_per_day=1_000_000,
        days=30,
        seed=1,
        start="2026-01-01",
        keep=False,
    )
    c = which.add_parser("close", help="a day's close: step times, peak memory, SQL floor")
    c.add_argument("--users", type=int, default=1_000_000)
    c.add_argument("--trades-per-day", type=int, default=1_000_000)
    c.add_argument("--days", type=int, default=30)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--start", default="2026-01-01", help="first business date (YYYY-MM-DD)")
    c.add_argument("--keep", action="store_true", help="keep the benchmark database")
    c.add_argument(
        "--citus",
        action="store_true",
        help="also close the day on a local Citus cluster and print both (needs Citus)",
    )
    c.set_defaults(handler=_bench_close)
    p = which.add_parser("models", help="EOD model build time: day 1 against the last day")
    p.add_argument("--users", type=int, default=200_000)
    p.add_argument("--trades-per-day", type=int, default=500_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", default="2026-01-01", help="first business date (YYYY-MM-DD)")
    p.add_argument("--keep", action="store_true", help="keep the benchmark database")
    p.set_defaults(handler=_bench_models)
    j = which.add_parser("posting", help="what the ledger's balance rule costs a fee journal")
    j.add_argument("--journals", type=int, default=241_000, help="two-leg fee journals to post")
    j.add_argument("--history", type=int, default=4_000_000, help="legs already in the ledger")
    j.add_argument("--keep", action="store_true", help="keep the benchmark database")
    j.set_defaults(handler=_bench_posting)
    k = which.add_parser(
        "chaos", help="faults injected into real closes, each compared with a clean close"
    )
    k.add_argument(
        "--only", nargs="+", metavar="WORD", help="only the scenarios whose names hold a WORD"
    )
    k.add_argument("--users", type=int, default=300)
    k.add_argument("--days", type=int, default=3)
    k.set_defaults(handler=_bench_chaos)


def _bench_chaos(args) -> int:
    from eod.devkit.chaos.harness import ExchangeShape
    from eod.devkit.chaos.report import chaos_report

    if args.users < 10 or args.days < 2:
        raise InputError("--users must be at least 10 and --days at least 2")
    return chaos_report(ExchangeShape(users=args.users, days=args.days), args.only)


def _bench_close(args) -> int:
    from eod.devkit.bench.close import bench_close

    if min(args.users, args.trades_per_day) < 1 or args.days < 2:
        raise InputError("--users and --trades-per-day must be at least 1, --days at least 2")
    ctx = Context()
    bench = {
        "users": args.users,
        "days": args.days,
        "trades_per_day": args.trades_per_day,
        "seed": args.seed,
        "start": parse_date(args.start, "--start"),
        "keep": args.keep,
    }
    if getattr(args, "citus", False):
        from eod.devkit.bench.citus import bench_close_citus

        return bench_close_citus(ctx.database_url, ctx.settings.state_dir, **bench)
    return bench_close(ctx.database_url, **bench)


def _bench_posting(args) -> int:
    from eod.devkit.bench.database import bench_database
    from eod.devkit.bench.posting import bench_posting
    from eod.migrations import migrate

    if args.journals < 1 or args.history < 0:
        raise InputError("--journals must be at least 1 and --history at least 0")
    ctx = Context()
    with bench_database(ctx.database_url, "eod_bench_posting", keep=args.keep) as bench:
        migrate(bench.url)
        figures = bench_posting(bench.url, args.journals, args.history)
    print(f"posting {args.journals} journals ({2 * args.journals} legs) beside {args.history}:")
    for what, seconds in figures.items():
        print(f"  {what:55s} {seconds:6.2f}s")
    return 0


def copy_simulated_captures(conn) -> None:
    """Land the simulators' registry, custody and chain figures as the close's captures."""
    with conn.cursor() as cur:
        cur.execute(
            """insert into eod.me_balances
               select r.business_date, r.user_id, r.currency, r.total, r.locked, r.available,
                      s.as_of, s.sequence
               from sim.me_registry r join sim.me_snapshots s using (business_date)"""
        )
        cur.execute(
            """insert into eod.custody_balances
                   (business_date, currency, coin, wallet_id, balance_units)
               select business_date, currency, coin, wallet_id, balance_units
               from sim.custody_wallet_balances"""
        )
        cur.execute(
            """insert into eod.onchain_staking (business_date, total_staked_units)
               select business_date, total_units from sim.onchain_staked"""
        )


def _build(url: str, day: date, target: str) -> tuple[float, float, bool]:
    """`dbt build` for one date: wall seconds, seconds spent in models alone, success."""
    import os

    from dbt.cli.main import dbtRunner

    from eod.close.dbt_build import build_args
    from eod.dbt import chain_first_date, in_project, prepare_env

    os.environ.update(prepare_env(url))
    args = build_args(day, chain_first_date(url, day), target)
    started = time.perf_counter()
    with in_project():
        # the close's own build: unit tests excluded, as they are from every daily close
        result = dbtRunner().invoke(args)
    wall = time.perf_counter() - started
    results = getattr(result.result, "results", None) or []
    models = sum(float(r.execution_time or 0) for r in results if r.node.resource_type == "model")
    return wall, models, bool(result.success)


def _bench_models(args) -> int:
    from eod.devkit.bench.database import bench_database
    from eod.devkit.generate import Options, generate
    from eod.migrations import migrate
    from eod.por_key import store_por_key

    if min(args.users, args.trades_per_day, args.days) < 1:
        raise InputError("--users, --trades-per-day and --days must be at least 1")
    ctx = Context()
    server = ctx.database_url
    with bench_database(server, "eod_bench_models", keep=args.keep) as bench:
        url, target = bench.url, bench.target
        migrate(url)
        opts = Options(
            seed=args.seed,
            users=args.users,
            days=args.days,
            trades_per_day=args.trades_per_day,
            start=parse_date(args.start, "--start"),
            cutover=ctx.settings.cutover,
            registry_days=args.days,
        )
        t0 = time.perf_counter()
        generate(url, opts)
        with session(url) as conn:
            with conn:
                copy_simulated_captures(conn)
                store_por_key(conn, secrets.token_hex(32))
            # statistics as a running exchange's autovacuum keeps them: `eod generate`
            # analysed what it loaded, the copied captures have none yet, and the
            # planner would guess a few rows for millions
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("analyze eod.me_balances, eod.custody_balances, eod.onchain_staking")
        print(
            f"generated {args.users} users, {args.trades_per_day} trades/day, "
            f"{args.days} days in {time.perf_counter() - t0:.1f}s"
        )
        # parse once up front, so that day 1 is not charged with dbt's project parse
        from eod import dbt

        dbt.invoke(["parse", "--quiet", "--target-path", target], url)
        walls, models = [], []
        for day in opts.dates:
            wall, model_s, ok = _build(url, day, target)
            walls.append(wall)
            models.append(model_s)
            print(
                f"  {day}  dbt build {wall:7.2f}s  models {model_s:7.2f}s  "
                f"{'ok' if ok else 'breaks or errors'}"
            )
        from eod.devkit.bench.floors import AGGREGATES, SAME_OUTPUTS, timed

        last_day, cutover = opts.dates[-1], ctx.settings.cutover
        floors = {
            "the same outputs": timed(url, last_day, cutover, SAME_OUTPUTS),
            "the minimal aggregates": timed(url, last_day, cutover, AGGREGATES),
        }
        last = args.days
        print(f"day 1 build      {walls[0]:8.2f}s   models alone {models[0]:8.2f}s")
        print(
            f"day {last} build{' ' * (7 - len(str(last)))}{walls[-1]:8.2f}s   "
            f"models alone {models[-1]:8.2f}s"
        )
        print(
            f"ratio last/first {walls[-1] / walls[0]:8.2f}   models alone "
            f"{models[-1] / models[0]:8.2f}   (target <= 1.2)"
        )
        for floor_name, steps in floors.items():
            total = sum(steps.values())
            detail = ", ".join(f"{step} {seconds:.2f}" for step, seconds in steps.items())
            print(f"SQL floor, {floor_name}: {total:.2f}s ({detail})")
            ratio = walls[-1] / total
            verdict = "met" if ratio <= 2 else "not met"
            print(f"  build / floor {ratio:8.2f}   (target <= 2: {verdict})")
        return 0


__all__ = ["copy_simulated_captures", "register"]
