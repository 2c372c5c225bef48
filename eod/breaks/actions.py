"""What an operator does with a break: list, acknowledge, resolve, restore.

An operator acts under their own name and says why; the close's actor (`eod`) can do
none of it, nor can an empty name or reason. Resolving an engine/ledger break may
give the user their account back (`restore`): through the account-state machine, the
operator as actor, publishing `account.restored`. A restore is refused unless the
account is in a state the machine lets a person restore and the close is what put it
there (a freeze by compliance is lifted with `eod account reactivate`, not by closing a
break), and while the user has another open engine/ledger break. Every action locks
the break, is audited in `eod.recon_break_actions` and publishes its event, all in the
caller's transaction: a refusal writes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eod.accounts.compliance import reactivate
from eod.accounts.transitions import TransitionRecord, current_state
from eod.breaks.records import ACKNOWLEDGED, CHECKS, RESOLVED, USER_CHECK
from eod.errors import InputError
from eod.outbox import enqueue
from fsm.machine import MACHINE, SYSTEM_ACTOR

STATUSES = ("open", "acknowledged", "resolved")


class BreakNotFound(InputError):
    """No break with that id."""


class BreakRefused(InputError):
    """The break (or the user's account) is not in a state that allows the action."""


@dataclass(frozen=True)
class Break:
    break_id: int
    check_name: str
    user_id: int | None
    currency: str | None
    first_date: date
    last_date: date
    difference: Decimal | None
    status: str
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None

    @property
    def days_open(self) -> int:
        """Dates after the first on which the break was found (0: found once)."""
        return (self.last_date - self.first_date).days

    def as_json(self) -> dict[str, Any]:
        """Dates and instants ISO 8601, the difference a decimal string."""
        return {
            k: (v.isoformat() if isinstance(v, date | datetime) else v)
            for k, v in asdict(self).items()
        } | {"difference": None if self.difference is None else str(self.difference)}


@dataclass(frozen=True)
class Resolution:
    resolved: Break
    restored: TransitionRecord | None  # the account's return to active, when asked for


_COLUMNS = (
    "break_id, check_name, user_id, currency, first_date, last_date, difference, status,"
    " opened_at, acknowledged_by, acknowledged_at, resolved_by, resolved_at, resolution"
)


def _operator(actor: str | None) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise InputError("who acts is required (a person's name)")
    if actor.lower() == SYSTEM_ACTOR:
        raise InputError(f"{SYSTEM_ACTOR!r} cannot acknowledge or resolve a break: a person must")
    return actor


def _why(text: str | None, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InputError(f"a {what} is required")
    return text


def get_break(cur, break_id: int, *, lock: bool = False) -> Break:
    cur.execute(
        f"select {_COLUMNS} from eod.recon_breaks where break_id = %s"
        + (" for update" if lock else ""),
        (break_id,),
    )
    row = cur.fetchone()
    if row is None:
        raise BreakNotFound(f"no break {break_id}")
    return Break(*row)


def list_breaks(
    cur, *, status: str | None = None, business_date: date | None = None, check: str | None = None
) -> list[Break]:
    """Breaks, oldest first; filtered by status, by a date on which they were found,
    by check."""
    where, params = [], []
    if status is not None:
        if status not in STATUSES:
            raise InputError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        where.append("status = %s")
        params.append(status)
    if check is not None:
        if check not in CHECKS:
            raise InputError(f"unknown check {check!r} (one of {', '.join(CHECKS)})")
        where.append("check_name = %s")
        params.append(check)
    if business_date is not None:
        where.append("first_date <= %s and last_date >= %s")
        params += [business_date, business_date]
    clause = f"where {' and '.join(where)}" if where else ""
    cur.execute(f"select {_COLUMNS} from eod.recon_breaks {clause} order by break_id", params)
    return [Break(*row) for row in cur.fetchall()]


def _audit(cur, break_id: int, action: str, actor: str, reason: str, transition_id=None):
    cur.execute(
        """insert into eod.recon_break_actions (break_id, action, actor, reason, transition_id)
           values (%s, %s, %s, %s, %s)""",
        (break_id, action, actor, reason, transition_id),
    )


def _event(found: Break, **extra: Any) -> dict[str, Any]:
    return {
        "break_id": found.break_id,
        "check_name": found.check_name,
        "user_id": found.user_id,
        "currency": found.currency,
        "first_date": found.first_date.isoformat(),
        "last_date": found.last_date.isoformat(),
        "status": found.status,
        **extra,
    }


def _refuse_if_resolved(found: Break) -> None:
    if found.status == "resolved":
        raise BreakRefused(
            f"break {found.break_id} is already resolved by {found.resolved_by}: {found.resolution}"
        )


def acknowledge(cur, break_id: int, actor: str, note: str) -> Break:
    """An operator has seen the break and says what they make of it."""
    actor, note = _operator(actor), _why(note, "note")
    found = get_break(cur, break_id, lock=True)
    _refuse_if_resolved(found)
    if found.status == "acknowledged":
        raise BreakRefused(f"break {break_id} is already acknowledged by {found.acknowledged_by}")
    cur.execute(
        """update eod.recon_breaks
           set status = 'acknowledged', acknowledged_by = %s, acknowledged_at = now()
           where break_id = %s""",
        (actor, break_id),
    )
    _audit(cur, break_id, "acknowledged", actor, note)
    updated = get_break(cur, break_id)
    enqueue(
        cur,
        ACKNOWLEDGED,
        _event(
            updated,
            actor=actor,
            note=note,
            acknowledged_at=updated.acknowledged_at.isoformat(),
        ),
    )
    return updated


def _check_restore(cur, found: Break) -> int:
    """The user whose account the resolution may restore, or BreakRefused saying why not."""
    if found.check_name != USER_CHECK or found.user_id is None:
        raise BreakRefused(
            f"break {found.break_id} is a {found.check_name} break: it froze no account to restore"
        )
    user_id = found.user_id
    cur.execute(
        """select break_id from eod.recon_breaks
           where user_id = %s and check_name = %s and status <> 'resolved' and break_id <> %s
           order by break_id""",
        (user_id, USER_CHECK, found.break_id),
    )
    others = [row[0] for row in cur.fetchall()]
    if others:
        shown = ", ".join(str(b) for b in others)
        raise BreakRefused(
            f"user {user_id} has another open engine/ledger break ({shown}): resolve it first"
        )
    state = current_state(cur, user_id, lock=True)
    if not MACHINE.restores(state):
        raise BreakRefused(f"account {user_id} is {state}, not frozen: there is nothing to restore")
    cur.execute(
        """select actor, reason from exchange.account_state_transitions
           where user_id = %s order by transition_id desc limit 1""",
        (user_id,),
    )
    last = cur.fetchone()
    if last is None or last[0] != SYSTEM_ACTOR:
        who = f" by {last[0]} ({last[1]})" if last else ""
        raise BreakRefused(
            f"account {user_id} was made {state}{who}, not by the close: "
            "reactivate it with `eod account reactivate`"
        )
    return user_id


def resolve(cur, break_id: int, actor: str, reason: str, *, restore: bool = False) -> Resolution:
    """An operator closes the break, saying why; with `restore`, the user's account
    goes back to active (the operator as actor)."""
    actor, reason = _operator(actor), _why(reason, "reason")
    found = get_break(cur, break_id, lock=True)
    _refuse_if_resolved(found)
    record = None
    if restore:
        user_id = _check_restore(cur, found)
        record = reactivate(cur, user_id, actor, f"break {break_id} resolved by {actor}: {reason}")
    cur.execute(
        """update eod.recon_breaks
           set status = 'resolved', resolved_by = %s, resolved_at = now(), resolution = %s
           where break_id = %s""",
        (actor, reason, break_id),
    )
    _audit(cur, break_id, "resolved", actor, reason, record.transition_id if record else None)
    updated = get_break(cur, break_id)
    enqueue(
        cur,
        RESOLVED,
        _event(
            updated,
            actor=actor,
            resolution=reason,
            resolved_at=updated.resolved_at.isoformat(),
            restored=record is not None,
            transition_id=record.transition_id if record else None,
        ),
    )
    return Resolution(updated, record)
