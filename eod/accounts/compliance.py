"""Compliance hooks: sanctions hits, re-KYC, disputes and reactivation.

Each is one transition through the database, so the audit row and the event
(`account.suspended`, `account.restricted`, `account.restored`) commit with it.
"""

from __future__ import annotations

import enum

from eod.accounts.transitions import TransitionRecord, current_state, transition
from eod.errors import InputError
from fsm.machine import MACHINE, SYSTEM_ACTOR, State


class Hit(enum.Enum):
    SANCTIONS = "sanctions"
    REKYC = "rekyc"
    DISPUTE = "dispute"


_LABEL = {Hit.SANCTIONS: "sanctions hit", Hit.REKYC: "re-KYC", Hit.DISPUTE: "dispute"}


def target_state(hit: Hit, sanctions_action: str) -> str:
    """Sanctions follow EOD_SANCTIONS_ACTION (suspend or restrict); the others suspend."""
    if hit is Hit.SANCTIONS and sanctions_action == "restrict":
        return State.restricted.value
    return State.suspended.value


def _require(actor: str, reason: str) -> tuple[str, str]:
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if not actor:
        raise InputError("an actor is required")
    if not reason:
        raise InputError("a reason is required")
    return actor, reason


def compliance_hit(
    cur, user_id: int, hit: Hit, actor: str, reason: str, sanctions_action: str = "suspend"
) -> TransitionRecord | None:
    """Freeze an account for a compliance hit; None when it is already in that state."""
    actor, reason = _require(actor, reason)
    target = target_state(hit, sanctions_action)
    if current_state(cur, user_id, lock=True) == target:
        return None
    return transition(cur, user_id, target, actor, f"{_LABEL[hit]}: {reason}")


def reactivate(cur, user_id: int, actor: str, reason: str) -> TransitionRecord:
    """Return a suspended or restricted account to active: a person decides, with a reason."""
    actor, reason = _require(actor, reason)
    if actor == SYSTEM_ACTOR:
        raise InputError(f"reactivation needs a human actor, not {SYSTEM_ACTOR!r}")
    state = current_state(cur, user_id, lock=True)
    if not MACHINE.restores(state):
        frozen = " or ".join(sorted(s.value for s in MACHINE.restorable()))
        raise InputError(f"account {user_id} is {state}; only {frozen} reactivate")
    cur.execute(
        "select 1 from exchange.closure_requests where user_id = %s and status = 'pending'",
        (user_id,),
    )
    if cur.fetchone():
        raise InputError(
            f"account {user_id} has a pending closure request; cancel it (cancel-closure) instead"
        )
    return transition(cur, user_id, State.active, actor, reason)
