"""The tasks of the `eod-close` flow, one per step.

Each takes (context, ledger, step name) and returns the step's detail, or None when
the step had already succeeded for the date. Every one runs through `StepLedger.run`:
steps whose writes live in Postgres commit them with their step record (atomic);
steps that commit on their own (captures, dbt, the proof of reserves) are idempotent
per date and are recorded after they finish.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from eod.accounts.closures import finalise_matured_closures
from eod.capture import capture_custody as capture_custody_balances
from eod.capture import capture_registry as capture_registry_snapshot
from eod.capture import capture_staking as capture_staking_total
from eod.close import postings
from eod.close.breaks import act_on_breaks, close_summary
from eod.close.dbt_build import AFTER_CAPTURES, BEFORE_CAPTURES, run_build
from eod.close.leader import check_fence
from eod.close.ledger_snapshot import record_close_snapshot
from eod.close.steps import StepLedger
from eod.context import Context
from eod.db import transaction
from eod.errors import first_line
from eod.outbox import enqueue
from eod.outbox.relay import relay_once
from eod.paging import deliver_pages
from eod.por import build_proof_of_reserves
from eod.por_key import store_por_key
from eod.seal import seal_close

log = logging.getLogger(__name__)

_task = task(cache_policy=NO_CACHE, persist_result=False)


@_task(name="capture_registry")
def capture_registry(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Stream the matching engine's registry at the end of D into eod.me_balances."""

    def snapshot_completed(cur, detail: dict) -> None:
        enqueue(
            cur,
            "eod.snapshot.completed",
            {
                "business_date": ledger.business_date.isoformat(),
                "as_of": detail.get("as_of"),
                "sequence": detail.get("sequence"),
                "rows": detail.get("rows"),
            },
        )

    return ledger.run(
        name,
        lambda: capture_registry_snapshot(
            ctx.database_url, ledger.business_date, ctx.settings, ledger.fencing_token
        ),
        atomic=False,
        announce=snapshot_completed,
    )


@_task(name="capture_custody")
def capture_custody(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Read every custody wallet's balance (BitGo REST) into eod.custody_balances."""
    return ledger.run(
        name,
        lambda: capture_custody_balances(
            ctx.database_url, ledger.business_date, ctx.settings, ledger.fencing_token
        ),
        atomic=False,
    )


@_task(name="capture_staking")
def capture_staking(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Read the StakingPool's totalStaked() into eod.onchain_staking."""
    return ledger.run(
        name,
        lambda: capture_staking_total(
            ctx.database_url, ledger.business_date, ctx.settings, ledger.fencing_token
        ),
        atomic=False,
    )


@_task(name="dbt_build_trading")
def dbt_build_trading(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Build D's marts that do not read the captures: trades, fees, tiers, cost and P&L,
    staking, the journals. Any failing node fails the step. It is the first to read
    the ledger: the snapshot D's close counts the ledger by is recorded first."""

    def work() -> dict:
        with ledger.transaction() as cur:
            record_close_snapshot(cur, ledger.business_date)
        return run_build(
            ctx.database_url,
            ledger.business_date,
            BEFORE_CAPTURES,
            fencing_token=ledger.fencing_token,
        ).summary()

    return ledger.run(name, work, atomic=False)


@_task(name="dbt_build")
def dbt_build(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Build the rest of D's marts, from the captures: snapshots with their leaf hashes
    and the reconciliations. Breaks are recorded, other failures fail the step."""

    def work() -> dict:
        with transaction(ctx.database_url) as conn:
            with conn.cursor() as cur:
                check_fence(cur, ledger.fencing_token)
            store_por_key(conn, ctx.settings.por_secret)
        with ledger.transaction() as cur:
            # normally recorded by dbt_build_trading already, and then kept
            record_close_snapshot(cur, ledger.business_date)
        return run_build(
            ctx.database_url,
            ledger.business_date,
            AFTER_CAPTURES,
            fencing_token=ledger.fencing_token,
        ).summary()

    return ledger.run(name, work, atomic=False)


@_task(name="post_fee_journal")
def post_fee_journal(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Post D's fee journal: user -fees, house:fee_revenue +fees, business_date D."""
    d = ledger.business_date
    return ledger.run(
        name,
        lambda cur: postings.post_journal(
            cur, postings.FEE_JOURNAL, d, d, datetime.now(UTC)
        ).as_detail(),
    )


@_task(name="post_staking_payouts")
def post_staking_payouts(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Post D's staking payouts, dated by the business date of the posting instant."""
    now = datetime.now(UTC)
    posting_date = ctx.settings.cutover.business_date_of(now)
    return ledger.run(
        name,
        lambda cur: postings.post_journal(
            cur, postings.PAYOUT_JOURNAL, ledger.business_date, posting_date, now
        ).as_detail(),
    )


@_task(name="proof_of_reserves")
def proof_of_reserves(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Build the Merkle sum tree per currency and publish the roots."""
    return ledger.run(
        name,
        lambda: build_proof_of_reserves(
            ctx.database_url, ledger.business_date, fencing_token=ledger.fencing_token
        ),
        atomic=False,
    )


@_task(name="reconcile")
def reconcile(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Act on D's breaks: suspend users with a ledger break, page once per check."""
    return ledger.run(name, lambda cur: act_on_breaks(cur, ctx, ledger.business_date))


@_task(name="finalise_closures")
def finalise_closures(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Close accounts whose closure request matured with zero balances."""
    _, end = ctx.settings.cutover.window(ledger.business_date)

    def work(cur) -> dict[str, Any]:
        return finalise_matured_closures(cur.connection, end, ctx.settings.closure_cooling_off_days)

    return ledger.run(name, work)


@_task(name="close")
def complete_close(ctx: Context, ledger: StepLedger, name: str) -> dict | None:
    """Seal D, mark it closed, announce eod.close.completed (with the seal hash)."""

    def work(cur) -> dict[str, Any]:
        seal = seal_close(cur, ledger.business_date)
        return {**close_summary(cur, ledger.business_date), "seal_hash": seal.seal_hash}

    return ledger.run(name, work)


def relay_outbox(ctx: Context) -> None:
    """Deliver whatever is pending, this close's and any an earlier run left: pages to
    the pager, events to NATS. What cannot leave (the pager or NATS is down) waits for
    the next close or `eod serve`. Never fails the close."""
    try:
        pages = deliver_pages(ctx.database_url, ctx.settings)
        if pages.errors:
            log.warning("pages deferred: %s", pages.errors[-1])
    except Exception as exc:
        log.warning("pages deferred: %s", first_line(exc))
    if not ctx.settings.nats_url:
        return
    try:
        relay_once(ctx.database_url, ctx.settings.nats_url)
    except Exception as exc:
        log.warning("outbox relay deferred: %s", first_line(exc))
