"""Break records kept by the close: opened, aged, cleared.

One break per (check, user, currency): engine/ledger per user and currency, custody
per currency, staking alone. The close of D, in its `reconcile` step's transaction:
- ages every unresolved break its checks find again: last_date becomes D and the
  difference D's (the same break_id while it persists on consecutive dates);
- opens a break for every one found that has no unresolved break (a break an operator
  resolved and that is found again is a new break);
- resolves every unresolved break it no longer finds, actor `eod`, resolution
  `cleared by the close of D`: a timing difference that went away.
Closes run in date order (the chain's catch-up), so an unresolved break's last_date is
always the previous date. Each change is one set-based statement, audited in
`eod.recon_break_actions`; openings and clearings are published. Running it twice for
a date changes nothing the second time.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from eod.outbox import enqueue_many
from fsm.machine import SYSTEM_ACTOR

# Checks whose breaks are recorded, as recon_summary names them; the first breaks per
# (user, currency) and freezes the user, the others per currency or alone.
USER_CHECK, CUSTODY_CHECK, STAKING_CHECK = "me_ledger", "custody", "staking"
CHECKS = (USER_CHECK, CUSTODY_CHECK, STAKING_CHECK)

OPENED = "eod.break.opened"
ACKNOWLEDGED = "eod.break.acknowledged"
RESOLVED = "eod.break.resolved"

# D's breaks as (check_name, user_id, currency, difference), from the recon marts.
_FOUND = f"""
    found as (
        select '{USER_CHECK}'::text as check_name, user_id, currency, difference
        from marts.recon_me_ledger where business_date = %(day)s
        union all
        select '{CUSTODY_CHECK}', null::bigint, currency, difference
        from marts.recon_custody where business_date = %(day)s and is_break
        union all
        select '{STAKING_CHECK}', null::bigint, null::text, difference
        from marts.recon_staking where business_date = %(day)s and is_break
    )"""

# An unresolved break `b` of the same (check, user, currency) as a found one `f`
# (coalesced so that the join can hash; user ids are positive, currencies non-empty).
_SAME_KEY = """b.check_name = f.check_name
        and coalesce(b.user_id, -1) = coalesce(f.user_id, -1)
        and coalesce(b.currency, '') = coalesce(f.currency, '')"""

_AGE = f"""
    with {_FOUND},
    aged as (
        update eod.recon_breaks as b
        set last_date = %(day)s, difference = f.difference
        from found as f
        where b.status <> 'resolved' and b.last_date < %(day)s and {_SAME_KEY}
        returning b.break_id, b.difference
    )
    insert into eod.recon_break_actions
        (break_id, action, actor, reason, business_date, difference)
    select break_id, 'aged', %(actor)s, %(found_again)s, %(day)s, difference from aged
"""

_OPEN = f"""
    with {_FOUND},
    opened as (
        insert into eod.recon_breaks
            (check_name, user_id, currency, first_date, last_date, difference)
        select f.check_name, f.user_id, f.currency, %(day)s, %(day)s, f.difference
        from found as f
        where not exists (
            select from eod.recon_breaks as b where b.status <> 'resolved' and {_SAME_KEY}
        )
        order by f.check_name, f.user_id, f.currency
        returning break_id, check_name, user_id, currency, first_date, difference
    ),
    audited as (
        insert into eod.recon_break_actions
            (break_id, action, actor, reason, business_date, difference)
        select break_id, 'opened', %(actor)s, %(found)s, %(day)s, difference from opened
    )
    select break_id, check_name, user_id, currency, first_date, difference
    from opened order by break_id
"""

_CLEAR = """
    with cleared as (
        update eod.recon_breaks
        set status = 'resolved', resolved_by = %(actor)s, resolved_at = now(),
            resolution = %(cleared)s
        where status <> 'resolved' and last_date < %(day)s
        returning break_id, check_name, user_id, currency, first_date, last_date,
            resolved_at, resolution
    ),
    audited as (
        insert into eod.recon_break_actions (break_id, action, actor, reason, business_date)
        select break_id, 'resolved', %(actor)s, resolution, %(day)s from cleared
    )
    select break_id, check_name, user_id, currency, first_date, last_date, resolved_at,
        resolution
    from cleared order by break_id
"""


def cleared_resolution(business_date: date) -> str:
    """The resolution of a break the close of D no longer found (CONTRACT section 6a)."""
    return f"cleared by the close of {business_date.isoformat()}"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def record_breaks(cur, business_date: date) -> dict[str, int]:
    """Open, age and clear D's break records from D's recon marts, in the caller's
    transaction; returns how many of each."""
    params = {
        "day": business_date,
        "actor": SYSTEM_ACTOR,
        "found": f"found by the close of {business_date.isoformat()}",
        "found_again": f"found again by the close of {business_date.isoformat()}",
        "cleared": cleared_resolution(business_date),
    }
    cur.execute(_AGE, params)
    aged = cur.rowcount
    cur.execute(_OPEN, params)
    opened = cur.fetchall()
    cur.execute(_CLEAR, params)
    cleared = cur.fetchall()
    day = business_date.isoformat()
    enqueue_many(
        cur,
        OPENED,
        (
            {
                "break_id": break_id,
                "check_name": check,
                "user_id": user_id,
                "currency": currency,
                "business_date": day,
                "first_date": first.isoformat(),
                "difference": _text(difference),
                "actor": SYSTEM_ACTOR,
            }
            for break_id, check, user_id, currency, first, difference in opened
        ),
    )
    enqueue_many(
        cur,
        RESOLVED,
        (
            {
                "break_id": break_id,
                "check_name": check,
                "user_id": user_id,
                "currency": currency,
                "business_date": day,
                "first_date": first.isoformat(),
                "last_date": last.isoformat(),
                "status": "resolved",
                "actor": SYSTEM_ACTOR,
                "resolution": resolution,
                "resolved_at": resolved_at.isoformat(),
                "restored": False,
            }
            for break_id, check, user_id, currency, first, last, resolved_at, resolution in cleared
        ),
    )
    return {"breaks_opened": len(opened), "breaks_aged": aged, "breaks_cleared": len(cleared)}
