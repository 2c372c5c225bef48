"""Derive the account-state machine's database side from the seeds.

Loads `seeds/account_states.csv` and `seeds/account_transitions.csv` into
`exchange.account_states` and `exchange.account_transition_rules`, then installs
the plpgsql in `fsm/sql/` (trigger, audit chain, transition_account, the
application role and its grants). Repeatable: re-applied whenever a seed or a SQL
file changes, so the database never drifts from the seeds.
"""

from __future__ import annotations

from fsm.seeds import fingerprint, load_states, load_transitions, sql_files


def checksum() -> str:
    return fingerprint()


def apply(cur) -> None:
    states = load_states()
    cur.execute("select unnest(enum_range(null::exchange.account_status))::text")
    enum_values = {row[0] for row in cur.fetchall()}
    unknown = sorted({s.state for s in states} - enum_values)
    if unknown:
        raise ValueError(f"account_states.csv names states missing from the enum: {unknown}")
    cur.execute("delete from exchange.account_transition_rules")
    cur.execute("delete from exchange.account_states")
    for s in states:
        cur.execute(
            """insert into exchange.account_states (state, can_trade, can_withdraw, is_terminal)
               values (%s, %s, %s, %s)""",
            (s.state, s.can_trade, s.can_withdraw, s.is_terminal),
        )
    for t in load_transitions():
        cur.execute(
            """insert into exchange.account_transition_rules (from_state, to_state, subject, guard)
               values (%s, %s, %s, %s)""",
            (t.from_state, t.to_state, t.subject, t.guard),
        )
    for path in sql_files():
        cur.execute(path.read_text())
