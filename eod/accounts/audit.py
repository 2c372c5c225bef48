"""Verification of the account-transition audit chain.

Recomputes every row's hash in Python, independently of the SQL that wrote it
(fsm/sql/10_audit_chain.sql documents the encoding), and names the first row whose
link or content does not match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64


def _field(text: str) -> str:
    return f"{len(text)}:{text};"


def transition_hash(
    prev_hash: str,
    transition_id: int,
    user_id: int,
    from_state: str,
    to_state: str,
    actor: str,
    reason: str,
    occurred_at: datetime,
) -> str:
    instant = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = "".join(
        _field(f)
        for f in (str(transition_id), str(user_id), from_state, to_state, actor, reason, instant)
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditReport:
    rows_checked: int
    first_bad_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def verify_audit(cur) -> AuditReport:
    """Walk the chain in transition_id order; stop at the first row that does not match."""
    cur.execute(
        """select transition_id, user_id, from_state::text, to_state::text, actor, reason,
                  occurred_at, prev_hash, hash
           from exchange.account_state_transitions order by transition_id"""
    )
    expected_prev = GENESIS
    checked = 0
    for tid, uid, src, dst, actor, reason, occurred_at, prev_hash, stored in cur:
        if prev_hash != expected_prev:
            return AuditReport(
                checked,
                tid,
                "prev_hash does not match the row before (removed or rewritten)",
            )
        computed = transition_hash(prev_hash, tid, uid, src, dst, actor, reason, occurred_at)
        if computed != stored:
            return AuditReport(
                checked, tid, "content does not match its hash (the row was altered)"
            )
        expected_prev = stored
        checked += 1
    return AuditReport(checked)
