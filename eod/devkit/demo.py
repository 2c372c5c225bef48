"""`eod demo`: the whole close, end to end, on embedded services.

Generates a small exchange in its own database (`eod_demo`, recreated each run),
starts the simulated matching engine, custody, chain and pager on loopback, closes
every generated day through the Prefect flow with a ledger fault injected on the
last day, and prints what finance and on-call would look at. Then an operator
resolves the faulty day's breaks with `eod breaks resolve --restore` (the users'
accounts active again), `eod seal verify` checks the chain of sealed closes, and
fails on a copy of the database whose marts were edited afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import time
from dataclasses import dataclass
from datetime import date

from eod.close.status import close_status
from eod.context import Context
from eod.db import fetch_all, session, transaction, with_database
from eod.migrations import migrate

DEMO_DATABASE = "eod_demo"
TAMPERED_DATABASE = "eod_demo_tampered"
OPERATOR = "ops:alice"


@dataclass(frozen=True)
class DemoOptions:
    users: int = 400
    days: int = 4
    trades_per_day: int = 800
    seed: int = 7
    break_ledger: int = 2
    start: date = date(2026, 11, 1)


def _recreate_database(server_url: str) -> str:
    with session(server_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'drop database if exists "{DEMO_DATABASE}" with (force)')
        cur.execute(f'create database "{DEMO_DATABASE}"')
    return with_database(server_url, DEMO_DATABASE)


def _section(title: str) -> None:
    print(f"\n== {title}")


_rows = fetch_all


def run_demo(opts: DemoOptions = DemoOptions()) -> int:
    from eod.devkit.generate import Options, generate
    from eod.devkit.simulators import start_simulators
    from eod.devkit.simulators.pager import PagerSimulator

    # The summary is the demo's output; the flow's own logs stay in the Prefect UI/API.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    ctx = Context()
    t0 = time.perf_counter()
    url = _recreate_database(ctx.database_url)
    os.environ["EOD_DATABASE_URL"] = url
    nats_url = ctx.nats_url
    migrate(url)
    _section("generate")
    gen = generate(
        url,
        Options(
            seed=opts.seed,
            users=opts.users,
            days=opts.days,
            trades_per_day=opts.trades_per_day,
            start=opts.start,
            cutover=ctx.settings.cutover,
            registry_days=opts.days,
            break_ledger=opts.break_ledger,
        ),
    )
    dates = gen.exchange.dates
    print(
        f"{opts.users} users, {opts.days} days from {dates[0]} ({ctx.settings.cutover} cutover), "
        f"{gen.counts.get('trades', 0)} trades, {gen.counts.get('ledger_entries', 0)} ledger "
        f"entries; fault: {opts.break_ledger} users' engine totals drift on {dates[-1]}"
    )

    given_secret = os.environ.get("EOD_POR_SECRET")
    por_secret = given_secret or secrets.token_hex(32)
    with contextlib.ExitStack() as stack:
        sims = start_simulators(url, nats_url=nats_url)
        stack.callback(sims.stop)
        pager = PagerSimulator().start()
        stack.callback(pager.stop)
        os.environ.update(
            sims.environment(),
            EOD_PAGER_URL=pager.url,
            EOD_PAGER_ROUTING_KEY="demo-routing-key",
            EOD_POR_SECRET=por_secret,
        )
        print(
            f"simulators: engine {sims.me_url}, custody {sims.custody_url}, "
            f"chain {sims.rpc_url}, pager {pager.url}"
        )
        if not given_secret:
            print(f"proof-of-reserves key (generated for this demo): {por_secret}")

        _section(f"close {dates[0]} .. {dates[-1]} through Prefect")
        from flows.service import backfill

        # the first date starts the chain; closing the last catches up the days between
        outcome = backfill(dates[0], dates[-1])
        for line in outcome.lines():
            print(line)
        failed = outcome.failure
        pages = list(pager.events)
    broken = summarise(url, dates, pages, por_secret)
    code = 0
    if failed:
        print(f"\nclose failed: {failed}")
        code = 2
    elif opts.break_ledger and not broken:
        print("\nthe injected ledger fault was not detected")
        code = 1
    elif opts.break_ledger and not resolve_faulty_day(url, dates[-1]):
        print("\nthe faulty day's accounts were not restored")
        code = 1
    elif not seal_chain_holds(ctx.database_url, url, dates[-2] if len(dates) > 1 else dates[0]):
        print("\nthe seal chain did not verify, or missed the tampering")
        code = 1
    print(f"\ndemo finished in {time.perf_counter() - t0:.1f}s")
    return code


def summarise(url: str, dates: list[date], pages: list[dict], por_secret: str) -> int:
    """Print the summary; return how many (date, check) pairs broke."""
    last = dates[-1]
    _section("steps (seconds)")
    for day, steps in _steps_by_day(url, dates):
        print(f"{day}  " + "  ".join(f"{s}={sec}" for s, sec in steps))

    _section("fees and P&L per day (USDT)")
    for row in _rows(
        url,
        """select f.business_date, sum(f.total_fees_usdt), sum(f.trade_count),
                  (select sum(realised_pnl) from marts.fct_daily_pnl p
                   where p.business_date = f.business_date),
                  (select sum(unrealised_pnl) from marts.fct_daily_pnl p
                   where p.business_date = f.business_date)
           from marts.fct_daily_fees f group by 1 order by 1""",
    ):
        day, fees, trades, realised, unrealised = row
        print(
            f"{day}  fees {fees:,.2f}  fills {trades}  realised {realised:,.2f}  "
            f"unrealised {unrealised:,.2f}"
        )

    _section(f"fee tiers effective {last}")
    for tier, users in _rows(
        url,
        """select tier, count(*) from marts.fct_fee_tiers where business_date = %s
           group by tier order by tier""",
        (last,),
    ):
        print(f"{tier}: {users} users")
    changes = _rows(
        url,
        """select cur.user_id, prev.tier, cur.tier from marts.fct_fee_tiers cur
           join marts.fct_fee_tiers prev on prev.user_id = cur.user_id
            and prev.business_date = cur.business_date - 1
           where cur.business_date = %s and prev.tier <> cur.tier order by cur.user_id limit 5""",
        (last,),
    )
    for user_id, before, after in changes:
        print(f"  user {user_id}: {before} -> {after}")

    _section("staking")
    for row in _rows(
        url,
        """select p.business_date, p.fee_revenue_usdt, p.staking_share, p.pool_qtra,
                  p.staker_count, p.gated,
                  (select coalesce(sum(payout_qtra), 0) from marts.fct_staking_payouts s
                   where s.business_date = p.business_date)
           from marts.fct_staking_pool p order by 1""",
    ):
        day, revenue, share, pool, stakers, gated, paid = row
        print(
            f"{day}  revenue {revenue:,.2f} USDT x {share} -> pool {pool} QTRA to "
            f"{stakers} stakers{' (gated)' if gated else ''}; paid {paid}"
        )

    _section("reconciliation")
    broken = 0
    for day, check, items, breaks, status in _rows(
        url,
        """select business_date, check_name, items_checked, breaks, status
           from marts.recon_summary order by 1, 2""",
    ):
        broken += 1 if breaks else 0
        print(f"{day}  {check:<12} {status:<6} {breaks} breaks / {items} checked")
    for user_id, currency, diff, state in _rows(
        url,
        """select r.user_id, r.currency, r.difference, u.status::text
           from marts.recon_me_ledger r join exchange.users u using (user_id)
           where r.business_date = %s order by 1, 2""",
        (last,),
    ):
        print(f"  frozen: user {user_id} {currency} engine-ledger difference {diff} -> {state}")
    for event in pages:
        print(
            f"  paged: {event.get('payload', {}).get('summary')} (dedup {event.get('dedup_key')})"
        )

    _section(f"proof of reserves {last}")
    for currency, root, total, leaves, ratio in _rows(
        url,
        """select currency, root_hash, root_sum, leaf_count, reserve_ratio
           from marts.proof_of_reserves where business_date = %s order by 1""",
        (last,),
    ):
        print(f"{currency:<5} root {root[:16]}..  sum {total}  leaves {leaves}  ratio {ratio}")
    _verify_one_proof(url, last, por_secret)
    return broken


def _steps_by_day(url: str, dates: list[date]):
    return [
        (day.business_date, [(step.step_name, step.seconds) for step in day.steps])
        for day in close_status(url, dates)
    ]


def _verify_one_proof(url: str, day: date, secret: str) -> None:
    from eod.por.build import prove
    from eod.por.verify import verify_proof

    found = _rows(
        url,
        """select user_id from marts.user_balance_snapshots
           where business_date = %s and currency = 'BTC' and total > 0
           order by user_id limit 1""",
        (day,),
    )
    if not found:
        return
    proof = prove(url, day, found[0][0], "BTC", secret)
    root = verify_proof(json.loads(json.dumps(proof)))
    print(
        f"user {found[0][0]} BTC proof: {len(proof['path'])} steps, verified against root "
        f"{root.hash[:16]}.. sum {root.sum}"
    )


def _command(*args: str) -> None:
    """Show the `eod` command whose work the next lines do (and print as it would)."""
    print(f"$ eod {shlex.join(args)}")


def resolve_faulty_day(url: str, day: date) -> bool:
    """An operator resolves the day's engine/ledger breaks and restores the accounts;
    True when every frozen user is active again."""
    from eod.breaks.actions import acknowledge, list_breaks, resolve
    from eod.breaks.records import USER_CHECK
    from eod.breaks.table import format_table

    _section(f"breaks of {day}: an operator resolves them")
    _command("breaks", "list", "--date", day.isoformat())
    with transaction(url) as conn, conn.cursor() as cur:
        found = list_breaks(cur, business_date=day)
    print("\n".join(format_table(found)))
    note = "engine total differs from the ledger: checking the engine journal"
    reason = "engine drift injected by the demo; the ledger is right"
    restored = []
    for b in (b for b in found if b.check_name == USER_CHECK and b.status != "resolved"):
        _command("breaks", "ack", str(b.break_id), "--by", OPERATOR, "--note", note)
        _command(
            "breaks", "resolve", str(b.break_id), "--by", OPERATOR, "--reason", reason, "--restore"
        )
        with transaction(url) as conn, conn.cursor() as cur:
            acknowledge(cur, b.break_id, OPERATOR, note)
            t = resolve(cur, b.break_id, OPERATOR, reason, restore=True).restored
        print(
            f"break {b.break_id} resolved by {OPERATOR}; account {t.user_id}: "
            f"{t.from_state} -> {t.to_state} (transition {t.transition_id}, actor {t.actor})"
        )
        restored.append(t.user_id)
    states = _rows(
        url,
        "select user_id, status::text from exchange.users where user_id = any(%s) order by 1",
        (restored,),
    )
    for user_id, state in states:
        print(f"  user {user_id}: {state}")
    print("finance's view (marts.fct_recon_breaks_daily):")
    for row in _rows(
        url,
        """select business_date, check_name, open_breaks, new_breaks, resolved_breaks,
                  oldest_open_days
           from marts.fct_recon_breaks_daily where open_breaks + resolved_breaks > 0
           order by 1, 2""",
    ):
        when, check, opened, new, resolved, oldest = row
        print(
            f"  {when}  {check:<10} open {opened}  new {new}  resolved {resolved}"
            f"  oldest open {oldest if oldest is not None else '-'} days"
        )
    return bool(restored) and all(state == "active" for _, state in states)


def seal_chain_holds(server_url: str, url: str, day: date) -> bool:
    """`eod seal verify` passes on the demo's database and fails on a copy of it in
    which a mart row of `day` was edited after the close."""
    from eod.seal import verify

    _section("sealed closes")
    _command("seal", "verify")
    report = verify(url)
    print(report.summary())
    passed = report.ok
    tampered = with_database(server_url, TAMPERED_DATABASE)
    with session(server_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'drop database if exists "{TAMPERED_DATABASE}" with (force)')
        # a template must have no other session: end the ones this process left open
        # (dbt's adapter keeps its connections for the next build)
        cur.execute(
            """select pg_terminate_backend(pid) from pg_stat_activity
               where datname = %s and pid <> pg_backend_pid()""",
            (DEMO_DATABASE,),
        )
        cur.execute(f'create database "{TAMPERED_DATABASE}" template "{DEMO_DATABASE}"')
    try:
        with transaction(tampered) as conn, conn.cursor() as cur:
            cur.execute(
                """update marts.fct_daily_fees set total_fees_usdt = total_fees_usdt + 1
                   where (business_date, user_id, currency) = (
                       select business_date, user_id, currency from marts.fct_daily_fees
                       where business_date = %s order by user_id, currency limit 1)
                   returning business_date, user_id""",
                (day,),
            )
            day, user_id = cur.fetchone()
        print(f"\na copy ({TAMPERED_DATABASE}) with one fee row of {day} (user {user_id}) edited:")
        print("$ EOD_DATABASE_URL=<the copy> eod seal verify")
        report = verify(tampered)
        print(report.summary())
        caught = report.first_bad == day
    finally:
        with session(server_url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f'drop database if exists "{TAMPERED_DATABASE}" with (force)')
    return passed and caught
