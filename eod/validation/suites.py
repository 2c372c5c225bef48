"""The validation suites of the captures: the matching-engine registry and custody.

Both validate a capture in its staging table, before it lands. Custody's batch is the
capture's rows, selected by capture id; queries whose text has a JOIN alias the batch
themselves (Great Expectations substitutes `{batch}` unaliased there). The registry
has millions of rows: its rules are evaluated together in one pass, which keeps the
offending rows per rule, and its batch is those rows.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

from eod.db import transaction
from eod.validation.runner import Check, SuiteResult, run_suite

REGISTRY_SUITE = "me_registry"
CUSTODY_SUITE = "custody_balances"

# Amounts land in numeric(38, 18): at most 20 digits before the point.
_AMOUNT_LIMIT = "1e20"


_FAULTS = "eod.me_balances_incoming_faults"
_AMOUNTS = "line_no, user_id, currency, total, locked, available"

# Each rule of the registry as a condition on one staged row `b` (its currency `c`, a
# left join: null for an unknown code), evaluated for every row in one pass.
REGISTRY_ROW_RULES: dict[str, str] = {
    "total_equals_locked_plus_available": "b.total <> b.locked + b.available",
    "non_negative": "b.total < 0 or b.locked < 0 or b.available < 0",
    "known_currency": "c.currency is null",
    "known_user": "b.unknown_user",
    "decimals_within_currency": (
        "trunc(b.total, c.decimals) <> b.total or trunc(b.locked, c.decimals) <> b.locked"
        " or trunc(b.available, c.decimals) <> b.available"
    ),
    "amount_in_range": (
        f"abs(b.total) >= {_AMOUNT_LIMIT} or abs(b.locked) >= {_AMOUNT_LIMIT}"
        f" or abs(b.available) >= {_AMOUNT_LIMIT}"
    ),
}

_ROW_FAULTS_SQL = f"""
insert into {_FAULTS}
    (capture_id, check_name, line_no, user_id, currency, decimals, total, locked, available)
select r.capture_id, f.check_name, r.line_no, r.user_id, r.currency, r.decimals,
       r.total::text, r.locked::text, r.available::text
from (
    select b.*, c.decimals,
           array[{", ".join(f"({rule}) is true" for rule in REGISTRY_ROW_RULES.values())}]
               as broken
    from (
        -- a user the platform does not know (exchange.users): the engine's registry and
        -- the platform disagree on who the users are, which no ledger comparison fixes
        select i.*, not exists (select from exchange.users as u where u.user_id = i.user_id)
            as unknown_user
        from eod.me_balances_incoming as i
        where i.capture_id = %(capture_id)s
    ) as b
    left join exchange.currencies as c on c.currency = b.currency
) as r
cross join lateral unnest(%(rules)s::text[], r.broken) as f(check_name, broken)
where true = any(r.broken) and f.broken
"""

_DUPLICATES_SQL = f"""
insert into {_FAULTS} (capture_id, check_name, user_id, currency, row_count, first_line)
select %(capture_id)s, 'unique_user_currency', user_id, currency, count(*), min(line_no)
from eod.me_balances_incoming
where capture_id = %(capture_id)s
group by user_id, currency
having count(*) > 1
"""


def _kept(check_name: str, columns: str, order: str) -> str:
    return f"""select {columns} from {{batch}}
               where check_name = '{check_name}' order by {order}"""


def registry_checks() -> list[Check]:
    """One row per (user, currency), total = locked + available, nothing negative,
    known currencies, users the platform knows, no more decimals than the currency
    has, amounts that fit.

    Each check reads the offending rows that one pass over the staged capture
    (`find_registry_faults`) kept for its rule; the rule itself is in `rule`.
    """
    return [
        Check(
            "unique_user_currency",
            _kept("unique_user_currency", "user_id, currency, row_count, first_line", "first_line"),
            "one row per (user_id, currency)",
            "count(*) > 1 per (user_id, currency), or none when the capture landed under"
            " eod.me_balances' primary key (business_date, user_id, currency)",
        ),
        Check(
            "total_equals_locked_plus_available",
            _kept("total_equals_locked_plus_available", _AMOUNTS, "line_no"),
            "total = locked + available",
            REGISTRY_ROW_RULES["total_equals_locked_plus_available"],
        ),
        Check(
            "non_negative",
            _kept("non_negative", _AMOUNTS, "line_no"),
            "no negative total, locked or available",
            REGISTRY_ROW_RULES["non_negative"],
        ),
        Check(
            "known_currency",
            _kept("known_currency", "line_no, user_id, currency", "line_no"),
            "currency in exchange.currencies",
            REGISTRY_ROW_RULES["known_currency"],
        ),
        Check(
            "known_user",
            _kept("known_user", "line_no, user_id, currency", "line_no"),
            "user_id in exchange.users",
            "no exchange.users row with the line's user_id",
        ),
        Check(
            "decimals_within_currency",
            _kept(
                "decimals_within_currency",
                "line_no, user_id, currency, decimals, total, locked, available",
                "line_no",
            ),
            "amount * 10^decimals is an integer",
            REGISTRY_ROW_RULES["decimals_within_currency"],
        ),
        Check(
            "amount_in_range",
            _kept("amount_in_range", _AMOUNTS, "line_no"),
            "amounts below 10^20 (numeric(38,18))",
            REGISTRY_ROW_RULES["amount_in_range"],
        ),
    ]


def find_registry_faults(
    database_url: str, capture_id: uuid.UUID, unique_by_key: bool = False
) -> None:
    """Keep the staged rows that break a registry rule, every rule in one pass (and one
    for duplicates), committed so that Great Expectations' connection sees them.

    `unique_by_key`: the capture is known to hold one row per (user, currency) (it
    landed under eod.me_balances' primary key), so the pass for duplicates is skipped.
    """
    params = {"capture_id": str(capture_id), "rules": list(REGISTRY_ROW_RULES)}
    with transaction(database_url) as conn, conn.cursor() as cur:
        # The duplicate check groups millions of rows: in memory, not in batches on disk.
        cur.execute("set local work_mem = '256MB'")
        cur.execute(_ROW_FAULTS_SQL, params)
        if not unique_by_key:
            cur.execute(_DUPLICATES_SQL, params)


def discard_registry_faults(database_url: str, capture_id: uuid.UUID) -> None:
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute(f"delete from {_FAULTS} where capture_id = %s", (str(capture_id),))


def custody_checks() -> list[Check]:
    """Every wallet of exchange.custody_wallets answered, once, with a balance >= 0."""
    return [
        Check(
            "non_negative",
            """select currency, coin, wallet_id, balance_units::text as balance_units
               from {batch}
               where balance_units < 0
               order by currency, wallet_id""",
            "wallet balances are not negative",
        ),
        Check(
            "every_wallet_answered",
            """select w.currency, w.coin, w.wallet_id
               from exchange.custody_wallets as w
               left join {batch} as b
                   on b.currency = w.currency and b.wallet_id = w.wallet_id
               where b.wallet_id is null
               order by w.currency, w.wallet_id""",
            "one balance per custody wallet",
        ),
        Check(
            "one_row_per_wallet",
            """select currency, wallet_id, count(*) as row_count
               from {batch}
               group by currency, wallet_id having count(*) > 1
               order by currency, wallet_id""",
            "no wallet captured twice",
        ),
    ]


def _batch(table: str, capture_id: uuid.UUID) -> str:
    # The capture id is a UUID we generated, so inlining it cannot inject anything.
    return f"select * from {table} where capture_id = '{uuid.UUID(str(capture_id))}'"


def validate_registry(
    database_url: str,
    business_date: date,
    capture_id: uuid.UUID,
    state_dir: Path | None = None,
    unique_by_key: bool = False,
    fencing_token: int | None = None,
) -> SuiteResult:
    """Validate a staged registry capture; raises ValidationFailed when a check breaks.

    `unique_by_key` as in find_registry_faults.
    """
    find_registry_faults(database_url, capture_id, unique_by_key)
    try:
        return run_suite(
            database_url,
            business_date,
            REGISTRY_SUITE,
            _batch(_FAULTS, capture_id),
            registry_checks(),
            state_dir,
            fencing_token=fencing_token,
        )
    finally:
        discard_registry_faults(database_url, capture_id)


def validate_custody(
    database_url: str,
    business_date: date,
    capture_id: uuid.UUID,
    state_dir: Path | None = None,
    fencing_token: int | None = None,
) -> SuiteResult:
    """Validate a staged custody capture; raises ValidationFailed when a check breaks."""
    return run_suite(
        database_url,
        business_date,
        CUSTODY_SUITE,
        _batch("eod.custody_balances_incoming", capture_id),
        custody_checks(),
        state_dir,
        fencing_token=fencing_token,
    )
