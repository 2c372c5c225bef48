"""The tasks of the `eod-close` flow. Each takes (resources, ledger, step name) and
returns the step's detail, or None when the step had already succeeded for the date.

Steps whose writes live in Postgres commit them together with their step record
(`ledger.run`); steps that commit on their own (captures, dbt, the proof of reserves)
are idempotent per date and record success afterwards (`_run_then_record`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from eod.close import postings
from eod.close.dbt_build import AFTER_CAPTURES, BEFORE_CAPTURES, run_build
from eod.close.steps import StepLedger
from eod.db import transaction
from flows.resources import CloseResources

_task = task(cache_policy=NO_CACHE, persist_result=False)


def _run_then_record(
    ledger: StepLedger,
    name: str,
    work: Callable[[], dict],
    announce: Callable[[Any, dict], None] | None = None,
) -> dict | None:
    """Run `work`, then record success (and any announcement) in one transaction."""
    if not ledger.start(name):
        return None
    detail = work() or {}
    with transaction(ledger.database_url) as conn, conn.cursor() as cur:
        if announce:
            announce(cur, detail)
        ledger.succeed(cur, name, detail)
    return detail


@_task(name="capture_registry")
def capture_registry(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Stream the matching engine's registry at the end of D into eod.me_balances."""
    from eod.capture import capture_registry as capture
    from eod.outbox import enqueue

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

    return _run_then_record(
        ledger,
        name,
        lambda: capture(res.database_url, ledger.business_date, res.settings),
        snapshot_completed,
    )


@_task(name="capture_custody")
def capture_custody(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Read every custody wallet's balance (BitGo REST) into eod.custody_balances."""
    from eod.capture import capture_custody as capture

    return _run_then_record(
        ledger, name, lambda: capture(res.database_url, ledger.business_date, res.settings)
    )


@_task(name="capture_staking")
def capture_staking(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Read the StakingPool's totalStaked() into eod.onchain_staking."""
    from eod.capture import capture_staking as capture

    return _run_then_record(
        ledger, name, lambda: capture(res.database_url, ledger.business_date, res.settings)
    )


@_task(name="dbt_build_trading")
def dbt_build_trading(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Build D's marts that do not read the captures: trades, fees, tiers, cost and P&L,
    staking, the journals. Any failing node fails the step."""
    return _run_then_record(
        ledger,
        name,
        lambda: run_build(res.database_url, ledger.business_date, BEFORE_CAPTURES).summary(),
    )


@_task(name="dbt_build")
def dbt_build(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Build the rest of D's marts, from the captures: snapshots with their leaf hashes
    and the reconciliations. Breaks are recorded, other failures fail the step."""
    from eod.por_key import store_por_key

    def work() -> dict:
        with transaction(res.database_url) as conn:
            store_por_key(conn, res.settings.por_secret)
        return run_build(res.database_url, ledger.business_date, AFTER_CAPTURES).summary()

    return _run_then_record(ledger, name, work)


@_task(name="post_fee_journal")
def post_fee_journal(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Post D's fee journal: user -fees, house:fee_revenue +fees, business_date D."""
    d = ledger.business_date
    return ledger.run(
        name,
        lambda cur: postings.post_journal(
            cur, postings.FEE_JOURNAL, d, d, datetime.now(UTC)
        ).as_detail(),
    )


@_task(name="post_staking_payouts")
def post_staking_payouts(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Post D's staking payouts, dated by the business date of the posting instant."""
    now = datetime.now(UTC)
    posting_date = res.settings.cutover.business_date_of(now)
    return ledger.run(
        name,
        lambda cur: postings.post_journal(
            cur, postings.PAYOUT_JOURNAL, ledger.business_date, posting_date, now
        ).as_detail(),
    )


@_task(name="reconcile")
def reconcile(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Act on D's breaks: suspend users with a ledger break, page once per check."""
    from flows.breaks import act_on_breaks

    return ledger.run(name, lambda cur: act_on_breaks(cur, res, ledger.business_date))


@_task(name="proof_of_reserves")
def proof_of_reserves(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Build the Merkle sum tree per currency and publish the roots."""
    from eod.por import build_proof_of_reserves

    return _run_then_record(
        ledger, name, lambda: build_proof_of_reserves(res.database_url, ledger.business_date)
    )


@_task(name="finalise_closures")
def finalise_closures(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Close accounts whose closure request matured with zero balances."""
    from eod.accounts.closures import finalise_matured_closures

    _, end = res.settings.cutover.window(ledger.business_date)

    def work(cur) -> dict[str, Any]:
        report = finalise_matured_closures(
            cur.connection, end, res.settings.closure_cooling_off_days
        )
        return report if isinstance(report, dict) else {"report": str(report)}

    return ledger.run(name, work)


@_task(name="close")
def complete_close(res: CloseResources, ledger: StepLedger, name: str) -> dict | None:
    """Mark D closed, announce eod.close.completed and relay the outbox to NATS."""
    from flows.breaks import close_summary

    detail = ledger.run(name, lambda cur: close_summary(cur, ledger.business_date))
    relay_outbox(res)
    return detail


def relay_outbox(res: CloseResources) -> None:
    """Publish pending events; when NATS is down they wait in the outbox for the relay."""
    if not res.nats_url:
        return
    from eod.outbox.relay import relay_once

    try:
        relay_once(res.database_url, res.nats_url)
    except Exception as exc:  # events stay in the outbox; `eod serve` relays them later
        from prefect import get_run_logger

        get_run_logger().warning("outbox relay deferred: %s", exc)


def page_step_failure(res: CloseResources, business_date, step: str, reason: str) -> None:
    from flows.breaks import page_failure

    page_failure(res, business_date, step, reason)
