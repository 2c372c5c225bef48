"""Acting on reconciliation results: freeze, page, announce.

A ledger break suspends the user through the account-state machine (actor `eod`,
the reason naming the break) in the same transaction that records the step; a user
whose state has no move to suspended in the machine (already suspended, banned,
closed, not yet KYC-approved) is left as is and listed. Each broken check pages once
per date: the dedup key is derived from (date, check), so a re-run keeps it. Pages
are written to the page outbox in that same transaction and delivered after it
commits: the freezes never wait on the pager.
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
from eod.paging import breaks_page, enqueue_page, send, step_failure_page
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


def suspend_for_breaks(cur, business_date: date, rows: list[dict[str, Any]]) -> dict[str, list]:
    by_user: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(row)
    suspended, left = [], []
    for user_id in sorted(by_user):
        try:
            state = current_state(cur, user_id, lock=True)
        except UnknownUser:  # an engine user the platform does not know
            state = None
        if state is None or not MACHINE.allows(state, State.suspended):
            left.append({"user_id": user_id, "state": state})
            continue
        parts = ", ".join(
            f"{r['currency']} engine {r['me_total']} vs ledger {r['ledger_total']}"
            for r in by_user[user_id]
        )
        reason = f"EOD {business_date} ledger break: {parts}"
        transition(cur, user_id, State.suspended, SYSTEM_ACTOR, reason)
        suspended.append(user_id)
    return {"suspended": suspended, "not_suspended": left}


def act_on_breaks(cur, ctx: Context, business_date: date) -> dict[str, Any]:
    breaks = recon_breaks(cur, business_date)
    detail: dict[str, Any] = {check: len(rows) for check, rows in breaks.items()}
    # open, age and clear D's break records (eod.breaks.records)
    detail.update(record_breaks(cur, business_date))
    if breaks["me_ledger"]:
        detail.update(suspend_for_breaks(cur, business_date, breaks["me_ledger"]))
    for check, rows in breaks.items():
        if not rows:
            continue
        sample = _jsonable(rows[:SAMPLE])
        enqueue(
            cur,
            "eod.recon.failed",
            {
                "business_date": business_date.isoformat(),
                "check": check,
                "breaks": len(rows),
                "first": sample,
            },
        )
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
    broken = sorted(name for name, s in summary.items() if s["breaks"])
    # the step ledger announces this detail as `eod.close.completed` (the `close` step)
    return {"recon": summary, "broken_checks": broken}
