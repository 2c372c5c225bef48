"""Account-state transitions through `exchange.transition_account`.

`transition` is the one way Python code changes an account's state: the close's
freezes, compliance hooks, closures, operators' restores and the AdminService all
call it. Which moves are allowed is the machine's (fsm/, from the seeds), checked
again by the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg2

from eod.errors import InputError, first_line
from fsm.machine import State

_STATES = [s.value for s in State]


class UnknownUser(InputError):
    """No such user on the platform."""


@dataclass(frozen=True)
class TransitionRecord:
    transition_id: int
    user_id: int
    from_state: str
    to_state: str
    actor: str
    reason: str
    occurred_at: datetime
    prev_hash: str
    hash: str


_COLUMNS = (
    "transition_id, user_id, from_state::text, to_state::text, actor, reason, occurred_at,"
    " prev_hash, hash"
)


def refusal(exc: psycopg2.Error) -> str:
    """The database's one-line reason for refusing a change."""
    diag = getattr(exc, "diag", None)
    return first_line((diag.message_primary if diag else None) or exc)


def transition(
    cur, user_id: int, to_state: State | str, actor: str, reason: str
) -> TransitionRecord:
    """Move an account to `to_state`; the database checks rule, guards and actor.

    Runs inside a savepoint so that a refusal leaves the caller's transaction usable.
    """
    if to_state not in _STATES:
        raise InputError(f"unknown account state {to_state!r} (one of {', '.join(_STATES)})")
    cur.execute("savepoint eod_transition")
    try:
        cur.execute(
            "select exchange.transition_account(%s, %s, %s, %s)",
            (user_id, State(to_state).value, actor, reason),
        )
        transition_id = cur.fetchone()[0]
    except psycopg2.Error as exc:
        cur.execute("rollback to savepoint eod_transition")
        raise InputError(refusal(exc)) from None
    cur.execute("release savepoint eod_transition")
    cur.execute(
        f"select {_COLUMNS} from exchange.account_state_transitions where transition_id = %s",
        (transition_id,),
    )
    return TransitionRecord(*cur.fetchone())


def current_state(cur, user_id: int, *, lock: bool = False) -> str:
    """The account's state (optionally locking the row), or InputError for an unknown user."""
    cur.execute(
        "select status::text from exchange.users where user_id = %s"
        + (" for update" if lock else ""),
        (user_id,),
    )
    row = cur.fetchone()
    if row is None:
        raise UnknownUser(f"unknown user {user_id}")
    return row[0]


def history(cur, user_id: int | None = None) -> list[TransitionRecord]:
    """Audited transitions, oldest first (one user's, or everyone's)."""
    where = "where user_id = %s" if user_id is not None else ""
    cur.execute(
        f"select {_COLUMNS} from exchange.account_state_transitions {where} order by transition_id",
        (user_id,) if user_id is not None else (),
    )
    return [TransitionRecord(*row) for row in cur.fetchall()]
