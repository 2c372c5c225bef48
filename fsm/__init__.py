"""The account-state machine (CONTRACT section 9).

The seeds `seeds/account_states.csv` and `seeds/account_transitions.csv` are the one
source of truth. This package derives the Python machine from them (`fsm.machine`);
`eod db migrate` derives the database's rule tables from the same files and installs
the plpgsql in `fsm/sql/`, whose trigger enforces the rules on every path into
`exchange.users.status`.
"""

from fsm.machine import (
    MACHINE,
    AccountMachine,
    Guard,
    State,
    Transition,
    TransitionContext,
    TransitionRefused,
)

__all__ = [
    "MACHINE",
    "AccountMachine",
    "Guard",
    "State",
    "Transition",
    "TransitionContext",
    "TransitionRefused",
]
