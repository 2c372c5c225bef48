"""A user's ledger balances (sum of `user` entries per currency)."""

from __future__ import annotations

from decimal import Decimal


def user_balances(cur, user_id: int) -> dict[str, Decimal]:
    cur.execute(
        """select currency, sum(amount) from exchange.ledger_entries
           where user_id = %s and account = 'user'
           group by currency order by currency""",
        (user_id,),
    )
    return {currency: Decimal(total) for currency, total in cur.fetchall()}


def non_zero(balances: dict[str, Decimal]) -> dict[str, Decimal]:
    return {c: b for c, b in balances.items() if b != 0}
