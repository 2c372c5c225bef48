"""The `eod-close` Prefect flow: one business date's close, with catch-up.

For each date to close, oldest first, the steps run in this order, each recorded in
`eod.eod_runs` and skipped when already succeeded for that date:

    capture_registry       the engine's registry, validated before it lands; alongside
      dbt_build_trading    it, the marts that do not read the captures (trades, fees,
                           tiers, cost and P&L, staking, the journals)
    capture_custody, capture_staking                     (validated before they land)
    dbt_build              the rest of D's marts, from the captures: snapshots and the
                           reconciliations, whose tests tell breaks from errors
    post_fee_journal       D's fee journal into the ledger (idempotent); alongside it
      post_staking_payouts the payouts of D, dated by the posting instant, and
      proof_of_reserves    the Merkle sum tree per currency into marts.proof_of_reserves
    reconcile              suspend users with a ledger break (FSM, actor eod); page
    finalise_closures      matured closure requests with zero balances become closed
    close                  seal D, eod.close.completed

However the run ends, it then delivers what is pending (this run's pages and events
and any an earlier run left): pages to the pager, events to NATS, without failing
when either is down (they wait for the next close or `eod serve`).

A step that fails or runs past EOD_STEP_TIMEOUT_S is recorded as failed, pages
on-call, and stops the close: later steps and later dates do not run (a step running
alongside it finishes and is recorded first).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from prefect import flow, get_run_logger

from eod.business_date import parse_date
from eod.close import leader
from eod.close.breaks import page_failure
from eod.close.calendar import business_date_ended_before, dates_to_close
from eod.close.steps import StepLedger
from eod.close.watchdog import StepTimeout, run_with_timeout
from eod.context import Context
from eod.errors import EodError, first_line
from flows import tasks

# Stages in order; the steps of one stage run side by side. Streaming the registry
# is mostly waiting on the engine and on COPY, and the marts built from trades and the
# ledger need nothing from it: building them meanwhile takes them off the close's
# critical path. Likewise the proof of reserves reads only the snapshots, and each
# posting only its own journal (the ledger checks every statement's journals on its
# own). At most one step of a stage runs dbt.
STAGES = (
    (("capture_registry", tasks.capture_registry), ("dbt_build_trading", tasks.dbt_build_trading)),
    (("capture_custody", tasks.capture_custody),),
    (("capture_staking", tasks.capture_staking),),
    (("dbt_build", tasks.dbt_build),),
    (
        ("post_fee_journal", tasks.post_fee_journal),
        ("post_staking_payouts", tasks.post_staking_payouts),
        ("proof_of_reserves", tasks.proof_of_reserves),
    ),
    (("reconcile", tasks.reconcile),),
    (("finalise_closures", tasks.finalise_closures),),
    (("close", tasks.complete_close),),
)


class CloseFailed(EodError):
    """A step failed; the close stopped there."""


def _run_step(ctx: Context, ledger: StepLedger, name: str, step) -> dict | None:
    """One step under the watchdog; a failure is recorded, paged and raised as
    CloseFailed."""
    business_date = ledger.business_date
    try:
        return run_with_timeout(
            lambda: step(ctx, ledger, name),
            timeout_s=ctx.settings.step_timeout_s,
            database_url=ctx.database_url,
            business_date=business_date,
            step=name,
        )
    except StepTimeout as exc:
        ledger.fail(name, "timeout", {"message": str(exc)})
        page_failure(ctx, business_date, name, "timeout")
        raise CloseFailed(str(exc)) from None
    except leader.NotLeader:
        raise  # a deposed leader records nothing: the new leader owns the date
    except Exception as exc:
        reason = first_line(exc)
        _record_failure(ledger, name, reason)
        page_failure(ctx, business_date, name, reason)
        raise CloseFailed(f"{business_date} {name}: {reason}") from None


def _record_failure(ledger: StepLedger, name: str, reason: str) -> None:
    """Record a failed step; when the database cannot take it (it may be what failed),
    the step stays `running` and re-runs like a failed one: the page still goes."""
    try:
        ledger.fail(name, reason)
    except leader.NotLeader:
        raise
    except Exception as exc:
        get_run_logger().error("could not record %s as failed: %s", name, first_line(exc))


def _run_stage(ctx: Context, ledger: StepLedger, stage) -> list:
    """[(name, detail or CloseFailed)] of the stage's steps, run side by side. Each
    runs in a copy of this context: Prefect's run context (and the step's connection
    name, which each sets in its own copy)."""
    with ThreadPoolExecutor(max_workers=len(stage), thread_name_prefix="stage") as pool:
        futures = [
            (
                name,
                pool.submit(contextvars.copy_context().run, _run_step, ctx, ledger, name, step),
            )
            for name, step in stage
        ]
        outcomes = []
        for name, future in futures:
            try:
                outcomes.append((name, future.result()))
            except CloseFailed as exc:
                outcomes.append((name, exc))
        return outcomes


def close_one_date(ctx: Context, business_date: date, fencing_token: int) -> dict:
    """Run every pending step of one date; returns {step: detail} for the steps that ran."""
    logger = get_run_logger()
    ledger = StepLedger(ctx.database_url, business_date, fencing_token)
    ran: dict[str, dict] = {}
    for stage in STAGES:
        outcomes = _run_stage(ctx, ledger, stage)
        for name, detail in outcomes:
            if isinstance(detail, CloseFailed):
                continue
            if detail is None:
                logger.info("%s %s: already succeeded, skipped", business_date, name)
            else:
                logger.info("%s %s: %s", business_date, name, detail)
                ran[name] = detail
        failed = [detail for _, detail in outcomes if isinstance(detail, CloseFailed)]
        if failed:
            raise failed[0]
    return ran


def _scheduled_date(ctx: Context) -> date:
    """For a scheduled run without a date: the business date that just ended."""
    from prefect.runtime import flow_run

    return business_date_ended_before(ctx.settings.cutover, flow_run.scheduled_start_time)


@flow(name="eod-close", log_prints=False, validate_parameters=True)
def eod_close(business_date: str | None = None) -> dict:
    """Close a business date (and any earlier unclosed dates of the chain).

    Without a date (the daily deployment), the date is the business date that ended
    at the cutover before the run's scheduled start, never the wall clock.
    """
    ctx = Context()
    target = parse_date(business_date, "business_date") if business_date else _scheduled_date(ctx)
    logger = get_run_logger()
    with leader.acquire(ctx.database_url, target) as lead:
        try:
            dates = dates_to_close(ctx.database_url, target)
            if len(dates) > 1:
                logger.info("catching up: %s", ", ".join(d.isoformat() for d in dates))
            report = {}
            for day in dates:
                report[day.isoformat()] = close_one_date(ctx, day, lead.fencing_token)
        finally:
            tasks.relay_outbox(ctx)
    return report
