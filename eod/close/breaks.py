"""Acting on reconciliation results: freeze, page, announce.

A ledger break suspends the user through the account-state machine (actor `eod`,
the reason naming the break) in the same transaction that records the step; a user
whose state has no move to suspended in the machine (already suspended, banned,
closed, not yet KYC-approved) is left as is and listed. Each broken check pages once
per date: the dedup key is derived from (date, check), so a re-run keeps it. Pages
are written to the page outbox in that same transaction and delivered after it
commits: the freezes never wait on the pager.

The circuit breaker (EOD_MAX_FREEZES): when the engine/ledger check would suspend
more users than that, a truncated or wrong capture is likelier than that many real
breaks, so nobody is suspended; the page (critical, the check's own incident) says
so, and the check is marked suspect in the step's detail (`suspect_checks`), in
`eod.recon.failed` and in the close's outcome. The marts keep what dbt computed (a
rebuild of D gives the same rows) and the break records are kept as usual: the
differences are there to investigate, and an operator resolves them.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from eod.accounts.transitions import UnknownUser, current_state, transition
from eod.breaks.records import record_breaks
from eod.context import Context
from eod.db import rows_as_dicts, transaction
from eod.errors import first_line
from eod.outbox import enqueue
from eod.paging import Page, breaks_page, dedup_key, enqueue_page, send, step_failure_page
from eod.paging.alerts import enqueue_alert
from fsm.machine import MACHINE, SYSTEM_ACTOR, State

log = logging.getLogger(__name__)

SAMPLE = 5  # breaks named in a page or event


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (str(v) if v is not None else None) for k, v in r.items()} for r in rows]


def recon_breaks(cur, business_date: date) -> dict[str, list[dict[str, Any]]]:
    return {
        "me_ledger": rows_as_dicts(
            cur,
            """select user_id, currency, me_total, ledger_total, difference
               from marts.recon_me_ledger where business_date = %s
               order by abs(difference) desc, user_id, currency""",
            (business_date,),
        ),
        "custody": rows_as_dicts(
            cur,
            """select currency, liabilities, custody_balance, difference, tolerance
               from marts.recon_custody where business_date = %s and is_break
               order by currency""",
            (business_date,),
        ),
        "staking": rows_as_dicts(
            cur,
            """select db_total, onchain_total, difference
               from marts.recon_staking where business_date = %s and is_break""",
            (business_date,),
        ),
    }


def suspend_for_breaks(
    cur, business_date: date, rows: list[dict[str, Any]], max_freezes: int | None = None
) -> dict[str, Any]:
    """Suspend each user with a ledger break, unless more than `max_freezes` would be:
    then nobody is, and the detail says the circuit breaker tripped."""
    by_user: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(row)
    to_suspend, left = [], []
    for user_id in sorted(by_user):
        try:
            state = current_state(cur, user_id, lock=True)
        except UnknownUser:  # an engine user the platform does not know
            state = None
        if state is None or not MACHINE.allows(state, State.suspended):
            left.append({"user_id": user_id, "state": state})
        else:
            to_suspend.append(user_id)
    if max_freezes is not None and len(to_suspend) > max_freezes:
        return {
            "suspended": [],
            "not_suspended": left,
            "circuit_breaker": {"would_freeze": len(to_suspend), "max_freezes": max_freezes},
            "suspect_checks": ["me_ledger"],
        }
    for user_id in to_suspend:
        parts = ", ".join(
            f"{r['currency']} engine {r['me_total']} vs ledger {r['ledger_total']}"
            for r in by_user[user_id]
        )
        reason = f"EOD {business_date} ledger break: {parts}"
        transition(cur, user_id, State.suspended, SYSTEM_ACTOR, reason)
    return {"suspended": to_suspend, "not_suspended": left}


def tripped_summary(business_date: date, count: int, tripped: dict[str, int]) -> str:
    """The one line a tripped circuit breaker pages with."""
    return (
        f"EOD {business_date.isoformat()} me_ledger: {count} breaks would freeze"
        f" {tripped['would_freeze']} users, above EOD_MAX_FREEZES={tripped['max_freezes']}:"
        " nobody frozen, the check is suspect (a truncated or wrong capture?)"
    )


def act_on_breaks(cur, ctx: Context, business_date: date) -> dict[str, Any]:
    breaks = recon_breaks(cur, business_date)
    detail: dict[str, Any] = {check: len(rows) for check, rows in breaks.items()}
    # open, age and clear D's break records (eod.breaks.records)
    detail.update(record_breaks(cur, business_date))
    if breaks["me_ledger"]:
        detail.update(
            suspend_for_breaks(cur, business_date, breaks["me_ledger"], ctx.settings.max_freezes)
        )
    tripped = detail.get("circuit_breaker")
    for check, rows in breaks.items():
        if not rows:
            continue
        sample = _jsonable(rows[:SAMPLE])
        suspect = tripped is not None and check == "me_ledger"
        event = {
            "business_date": business_date.isoformat(),
            "check": check,
            "breaks": len(rows),
            "first": sample,
        }
        if suspect:
            event["status"] = "suspect"
            event["circuit_breaker"] = tripped
        enqueue(cur, "eod.recon.failed", event)
        if suspect:
            summary = tripped_summary(business_date, len(rows), tripped)
            enqueue_page(cur, Page(dedup_key(business_date, check), summary, "critical", event))
            enqueue_alert(cur, business_date, check, len(rows), sample, summary=summary)
            continue
        enqueue_page(cur, breaks_page(business_date, check, len(rows), sample))
        enqueue_alert(cur, business_date, check, len(rows), sample)
    return detail


def page_failure(ctx: Context, business_date: date, step: str, reason: str) -> None:
    """Write the page of a failed step to the page outbox, with its `eod.alert` event,
    in one transaction; the end of the close delivers it. When the database cannot
    take it (the failure may be the database's), one direct attempt is made instead."""
    page = step_failure_page(business_date, step, reason)
    try:
        with transaction(ctx.database_url) as conn, conn.cursor() as cur:
            enqueue_page(cur, page)
            enqueue(
                cur,
                "eod.alert",
                {
                    "business_date": business_date.isoformat(),
                    "step": step,
                    "reason": reason,
                    "severity": "critical",
                    "dedup_key": page.dedup_key,
                },
            )
    except Exception as exc:
        log.error("could not queue the page of %s %s: %s", business_date, step, first_line(exc))
        if not ctx.settings.pager_url:
            return
        try:
            send(ctx.settings, page.dedup_key, page.payload())
        except Exception as sent:
            log.error("page of %s %s not sent: %s", business_date, step, first_line(sent))


def close_summary(cur, business_date: date) -> dict[str, Any]:
    summary = {
        row["check_name"]: {
            "items": row["items_checked"],
            "breaks": row["breaks"],
            "status": row["status"],
        }
        for row in rows_as_dicts(
            cur,
            """select check_name, items_checked, breaks, status
               from marts.recon_summary where business_date = %s order by check_name""",
            (business_date,),
        )
    }
    # checks the circuit breaker marked suspect when it acted on D's breaks
    cur.execute(
        """select detail -> 'suspect_checks' from eod.eod_runs
           where business_date = %s and step_name = 'reconcile'""",
        (business_date,),
    )
    found = cur.fetchone()
    suspect = sorted(found[0] or []) if found else []
    for name in suspect:
        if name in summary:
            summary[name]["status"] = "suspect"
    broken = sorted(name for name, s in summary.items() if s["breaks"])
    # the step ledger announces this detail as `eod.close.completed` (the `close` step)
    return {"recon": summary, "broken_checks": broken, "suspect_checks": suspect}
