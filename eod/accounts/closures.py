"""Account closure requests: request, cancel, and finalisation by the close.

A request moves an active account to restricted (it may still withdraw, not trade)
and is recorded in `exchange.closure_requests`. Cancelling returns it to active. The
close calls `finalise_matured_closures`: a request older than the cooling-off closes
the account when every balance is zero; otherwise it stays restricted and is reported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from eod.accounts.balances import non_zero, user_balances
from eod.accounts.transitions import current_state, transition
from eod.errors import InputError
from fsm.machine import MACHINE, SYSTEM_ACTOR, State


def _pending(cur, user_id: int) -> int | None:
    cur.execute(
        """select request_id from exchange.closure_requests
           where user_id = %s and status = 'pending' for update""",
        (user_id,),
    )
    row = cur.fetchone()
    return row[0] if row else None


def request_closure(cur, user_id: int, actor: str, reason: str) -> int:
    """Record a closure request and restrict the account; returns the request id."""
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if not actor or not reason:
        raise InputError("a closure request needs an actor and a reason")
    state = current_state(cur, user_id, lock=True)
    if state != State.active:
        raise InputError(
            f"account {user_id} is {state}; only an active account can request closure"
        )
    if _pending(cur, user_id) is not None:
        raise InputError(f"account {user_id} already has a pending closure request")
    cur.execute(
        """insert into exchange.closure_requests (user_id, requested_by, reason)
           values (%s, %s, %s) returning request_id""",
        (user_id, actor, reason),
    )
    request_id = cur.fetchone()[0]
    transition(cur, user_id, State.restricted, actor, f"closure request {request_id}: {reason}")
    return request_id


def cancel_closure(cur, user_id: int, actor: str, reason: str = "cancelled") -> int:
    """Cancel the pending request; a restricted account returns to active. Returns its id."""
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if not actor or not reason:
        raise InputError("cancelling a closure needs an actor and a reason")
    state = current_state(cur, user_id, lock=True)
    request_id = _pending(cur, user_id)
    if request_id is None:
        raise InputError(f"account {user_id} has no pending closure request")
    cur.execute(
        """update exchange.closure_requests
           set status = 'cancelled', resolved_at = now(), resolved_by = %s
           where request_id = %s""",
        (actor, request_id),
    )
    # A compliance freeze placed after the request (suspended) is not lifted by a cancel.
    if state == State.restricted:
        transition(
            cur, user_id, State.active, actor, f"closure request {request_id} cancelled: {reason}"
        )
    return request_id


def finalise_matured_closures(conn, as_of_instant: datetime, cooling_off_days: int) -> dict:
    """Close accounts whose request is at least `cooling_off_days` old at `as_of_instant`.

    Works in the connection's current transaction (the caller commits). Returns a
    report: accounts closed, accounts kept restricted with their non-zero balances,
    requests skipped because the account is in a state that cannot close.
    """
    if cooling_off_days < 0:
        raise InputError("cooling-off days cannot be negative")
    cutoff = as_of_instant - timedelta(days=cooling_off_days)
    report: dict = {
        "as_of": as_of_instant.isoformat(),
        "cooling_off_days": cooling_off_days,
        "closed": [],
        "kept_restricted": [],
        "skipped": [],
    }
    with conn.cursor() as cur:
        cur.execute(
            """select request_id, user_id from exchange.closure_requests
               where status = 'pending' and requested_at <= %s
               order by requested_at, request_id""",
            (cutoff,),
        )
        for request_id, user_id in cur.fetchall():
            state = current_state(cur, user_id, lock=True)
            if state == State.closed:
                _resolve(cur, request_id, "closed")
                continue
            if not MACHINE.allows(state, State.closed):
                report["skipped"].append(
                    {"user_id": user_id, "request_id": request_id, "state": state}
                )
                continue
            left = non_zero(user_balances(cur, user_id))
            if left:
                report["kept_restricted"].append(
                    {
                        "user_id": user_id,
                        "request_id": request_id,
                        "balances": {c: str(b) for c, b in left.items()},
                    }
                )
                continue
            transition(
                cur,
                user_id,
                State.closed,
                SYSTEM_ACTOR,
                f"closure request {request_id} matured after {cooling_off_days} days",
            )
            _resolve(cur, request_id, "closed")
            report["closed"].append(user_id)
    return report


def _resolve(cur, request_id: int, status: str) -> None:
    cur.execute(
        """update exchange.closure_requests
           set status = %s, resolved_at = now(), resolved_by = %s where request_id = %s""",
        (status, SYSTEM_ACTOR, request_id),
    )
