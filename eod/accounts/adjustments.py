"""Admin balance adjustments (CONTRACT section 9).

An adjustment is one journal: `user` +X and `house:adjustments` -X, reference_type
`admin_adjustment`, reference_id = the idempotency key, with the admin's reason,
business_date = the business date of the posting instant, created_by = the actor.
The same key with the same content changes nothing; with other content it is
refused. Every refusal is one line and writes nothing. The journal also writes an
`account.balance_adjusted` event through the outbox, so the matching engine applies
the same change and engine and ledger stay equal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from eod.business_date import Cutover
from eod.config import Settings
from eod.db import transaction
from eod.errors import InputError
from eod.outbox import enqueue

REFERENCE_TYPE = "admin_adjustment"
HOUSE_ACCOUNT = "house:adjustments"
EVENT_SUBJECT = "account.balance_adjusted"
# numeric(38, 18): at most 20 digits before the point.
_LIMIT = Decimal(10) ** 20


@dataclass(frozen=True)
class AdjustmentOutcome:
    journal_id: uuid.UUID
    created: bool  # False: the key was already posted with this content (a no-op)
    # "Content" is user, currency, amount and reason: a retry by another admin is still a no-op.
    business_date: date
    event_id: uuid.UUID | None = None


def parse_amount(raw: str | int | Decimal) -> Decimal:
    """A decimal amount from text; floats are refused (money is never binary floating point)."""
    if isinstance(raw, float | bool):
        raise InputError("amount must be given as decimal text, not a float")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise InputError(f"amount {raw!r} is not a decimal number") from None
    if not amount.is_finite():
        raise InputError(f"amount {raw!r} is not a finite number")
    if amount == 0:
        raise InputError("amount must not be zero")
    if abs(amount) >= _LIMIT:
        raise InputError(f"amount {raw} is too large")
    return amount


def decimals_of(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent)


def adjust_balance(
    database_url: str,
    *,
    user_id: int,
    currency: str,
    amount: str | int | Decimal,
    reason: str,
    key: str,
    actor: str,
    cutover: Cutover | None = None,
) -> AdjustmentOutcome:
    """Post (or recognise as already posted) one adjustment in its own transaction."""
    with transaction(database_url, application_name="eod-adjust") as conn, conn.cursor() as cur:
        return post_adjustment(
            cur,
            user_id=user_id,
            currency=currency,
            amount=amount,
            reason=reason,
            key=key,
            actor=actor,
            cutover=cutover,
        )


def post_adjustment(
    cur,
    *,
    user_id: int,
    currency: str,
    amount: str | int | Decimal,
    reason: str,
    key: str,
    actor: str,
    cutover: Cutover | None = None,
) -> AdjustmentOutcome:
    """The adjustment in the cursor's transaction; InputError (nothing written) when refused."""
    reason, key, actor = (reason or "").strip(), (key or "").strip(), (actor or "").strip()
    currency = (currency or "").strip()
    if not reason:
        raise InputError("an adjustment needs a reason")
    if not key:
        raise InputError("an adjustment needs an idempotency key")
    if not actor:
        raise InputError("an adjustment needs an actor")
    value = parse_amount(amount)

    # Serialise adjustments of one key, so two sessions cannot both find it unused.
    cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{REFERENCE_TYPE}:{key}",))
    cur.execute("select decimals from exchange.currencies where currency = %s", (currency,))
    row = cur.fetchone()
    if row is None:
        raise InputError(f"unknown currency {currency!r}")
    if decimals_of(value) > row[0]:
        raise InputError(f"{currency} has {row[0]} decimals; {amount} has more")
    # The user row lock orders this against transitions (closing) and other adjustments.
    cur.execute("select status::text from exchange.users where user_id = %s for update", (user_id,))
    row = cur.fetchone()
    if row is None:
        raise InputError(f"unknown user {user_id}")
    status = row[0]

    cur.execute(
        """select journal_id, user_id, currency, amount, reason, business_date
           from exchange.ledger_entries
           where reference_type = %s and reference_id = %s and account = 'user'""",
        (REFERENCE_TYPE, key),
    )
    posted = cur.fetchone()
    if posted is not None:
        journal_id, p_user, p_currency, p_amount, p_reason, p_date = posted
        if (p_user, p_currency, Decimal(p_amount), p_reason) == (user_id, currency, value, reason):
            return AdjustmentOutcome(uuid.UUID(str(journal_id)), False, p_date)
        raise InputError(
            f"key {key!r} was already used for another adjustment "
            f"(user {p_user}, {p_currency} {Decimal(p_amount).normalize():f}, reason {p_reason!r})"
        )

    if status == "closed":
        raise InputError(f"account {user_id} is closed")
    cur.execute(
        """select coalesce(sum(amount), 0) from exchange.ledger_entries
           where user_id = %s and currency = %s and account = 'user'""",
        (user_id, currency),
    )
    balance = Decimal(cur.fetchone()[0])
    if balance + value < 0:
        raise InputError(
            f"the debit would take user {user_id}'s {currency} balance below zero "
            f"({balance.normalize():f} {value.normalize():+f})"
        )

    cur.execute("select now()")
    posted_at: datetime = cur.fetchone()[0]
    business_date = (cutover or Settings.from_env().cutover).business_date_of(posted_at)
    journal_id = uuid.uuid4()
    # Both legs in one statement: the ledger checks that every statement's journals balance.
    cur.execute(
        """insert into exchange.ledger_entries (journal_id, user_id, account, currency, amount,
               reference_type, reference_id, reason, business_date, effective_at, created_by)
           values (%(j)s, %(u)s, 'user', %(c)s, %(a)s, %(t)s, %(k)s, %(r)s, %(d)s, %(at)s, %(by)s),
                  (%(j)s, null, %(h)s, %(c)s, %(na)s, %(t)s, %(k)s, %(r)s, %(d)s, %(at)s, %(by)s)
        """,
        {
            "j": str(journal_id),
            "u": user_id,
            "c": currency,
            "a": value,
            "na": -value,
            "t": REFERENCE_TYPE,
            "k": key,
            "r": reason,
            "d": business_date,
            "at": posted_at,
            "by": actor,
            "h": HOUSE_ACCOUNT,
        },
    )
    event_id = enqueue(
        cur,
        EVENT_SUBJECT,
        {
            "journal_id": str(journal_id),
            "user_id": user_id,
            "currency": currency,
            "amount": f"{value.normalize():f}",
            "reason": reason,
            "idempotency_key": key,
            "actor": actor,
            "business_date": business_date.isoformat(),
            "effective_at": posted_at.isoformat(),
        },
    )
    return AdjustmentOutcome(journal_id, True, business_date, event_id)
