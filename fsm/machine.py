"""The account-state machine in Python, derived from the seeds.

States are an Enum built from `account_states.csv`; the allowed transitions are
declared once, in `account_transitions.csv`, and loaded here. Guards are pure
functions of a `TransitionContext`, keyed by the `Guard` enum, so a guard named in
the seed that does not exist fails at import, not when a transition runs.

The database enforces the same rules (fsm/sql/); this module lets Python code
explain a refusal before it reaches the database and lets tests compare the two.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from fsm.seeds import load_states, load_transitions

_STATE_ROWS = {row.state: row for row in load_states()}

State = enum.Enum("State", [(name, name) for name in _STATE_ROWS], type=str)
State.__doc__ = "An account state (exchange.account_status)."


class Guard(enum.Enum):
    """Conditions a transition may require (the seed's `guard` column)."""

    ZERO_BALANCES = "zero_balances"
    HUMAN_ACTOR = "human_actor"


# The actor the close itself uses; it may freeze accounts but never restore them.
SYSTEM_ACTOR = "eod"
# The event of a return to active from a freeze (CONTRACT section 9).
RESTORED_SUBJECT = "account.restored"


@dataclass(frozen=True)
class TransitionContext:
    """What guards may look at: who asks, why, and the user's ledger balances."""

    actor: str
    reason: str
    balances: Mapping[str, Decimal] = field(default_factory=dict)


def _zero_balances(ctx: TransitionContext) -> str | None:
    left = {c: b for c, b in ctx.balances.items() if b != 0}
    if left:
        shown = ", ".join(f"{c} {b}" for c, b in sorted(left.items()))
        return f"balances are not zero ({shown})"
    return None


def _human_actor(ctx: TransitionContext) -> str | None:
    if ctx.actor.strip() == SYSTEM_ACTOR:
        return f"reactivation needs a human actor, not {SYSTEM_ACTOR!r}"
    return None


GUARDS: dict[Guard, Callable[[TransitionContext], str | None]] = {
    Guard.ZERO_BALANCES: _zero_balances,
    Guard.HUMAN_ACTOR: _human_actor,
}


@dataclass(frozen=True)
class Transition:
    source: State
    target: State
    subject: str
    guard: Guard | None


class TransitionRefused(ValueError):
    """A transition the machine does not allow (one line, for the user)."""


class AccountMachine:
    """Allowed transitions and state permissions, as loaded from the seeds."""

    def __init__(self) -> None:
        self.transitions: dict[tuple[State, State], Transition] = {}
        for row in load_transitions():
            key = (State(row.from_state), State(row.to_state))
            if key in self.transitions:
                raise ValueError(f"transition {row.from_state} -> {row.to_state} listed twice")
            self.transitions[key] = Transition(
                key[0], key[1], row.subject, Guard(row.guard) if row.guard else None
            )

    @staticmethod
    def can_trade(state: State) -> bool:
        return _STATE_ROWS[state.value].can_trade

    @staticmethod
    def can_withdraw(state: State) -> bool:
        return _STATE_ROWS[state.value].can_withdraw

    @staticmethod
    def is_terminal(state: State) -> bool:
        return _STATE_ROWS[state.value].is_terminal

    def targets(self, source: State) -> list[State]:
        return [t for (s, t) in self.transitions if s is source]

    def allows(self, source: State | str, target: State | str) -> bool:
        """Whether the seeds list source -> target (guards aside)."""
        return (State(source), State(target)) in self.transitions

    def sources(self, target: State | str) -> frozenset[State]:
        """Every state the seeds let move to `target`."""
        return frozenset(s for (s, t) in self.transitions if t is State(target))

    def restores(self, source: State | str) -> bool:
        """Whether leaving `source` for active is a restore (`account.restored`): the
        way back from a freeze, which only a person may take."""
        found = self.transitions.get((State(source), State.active))
        return found is not None and found.subject == RESTORED_SUBJECT

    def restorable(self) -> frozenset[State]:
        """The frozen states: those whose way back to active is a restore."""
        return frozenset(s for s in self.sources(State.active) if self.restores(s))

    def check(self, source: State, target: State, ctx: TransitionContext) -> Transition:
        """The transition source -> target if allowed in this context, else TransitionRefused."""
        if not ctx.actor.strip() or not ctx.reason.strip():
            raise TransitionRefused("a transition needs an actor and a reason")
        if self.is_terminal(source):
            raise TransitionRefused(f"{source.value} is terminal")
        transition = self.transitions.get((source, target))
        if transition is None:
            raise TransitionRefused(f"{source.value} -> {target.value} is not allowed")
        if transition.guard is not None:
            problem = GUARDS[transition.guard](ctx)
            if problem:
                raise TransitionRefused(f"{source.value} -> {target.value}: {problem}")
        return transition


MACHINE = AccountMachine()
