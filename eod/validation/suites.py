"""The validation suites of the captures: the matching-engine registry and custody.

Both validate a capture in its staging table, before it lands: the batch is the
capture's rows, selected by capture id. Queries whose text has a JOIN alias the batch
themselves (Great Expectations substitutes `{batch}` unaliased there).
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

from eod.validation.runner import Check, SuiteResult, run_suite

REGISTRY_SUITE = "me_registry"
CUSTODY_SUITE = "custody_balances"

# Amounts land in numeric(38, 18): at most 20 digits before the point.
_AMOUNT_LIMIT = "1e20"


def registry_checks() -> list[Check]:
    """One row per (user, currency), total = locked + available, nothing negative,
    known currencies, no more decimals than the currency has, amounts that fit."""
    return [
        Check(
            "unique_user_currency",
            """select user_id, currency, count(*) as row_count, min(line_no) as first_line
               from {batch}
               group by user_id, currency having count(*) > 1
               order by min(line_no)""",
            "one row per (user_id, currency)",
        ),
        Check(
            "total_equals_locked_plus_available",
            """select line_no, user_id, currency, total::text as total,
                      locked::text as locked, available::text as available
               from {batch}
               where total <> locked + available
               order by line_no""",
            "total = locked + available",
        ),
        Check(
            "non_negative",
            """select line_no, user_id, currency, total::text as total,
                      locked::text as locked, available::text as available
               from {batch}
               where total < 0 or locked < 0 or available < 0
               order by line_no""",
            "no negative total, locked or available",
        ),
        Check(
            "known_currency",
            """select b.line_no, b.user_id, b.currency
               from {batch} as b
               left join exchange.currencies as c on c.currency = b.currency
               where c.currency is null
               order by b.line_no""",
            "currency in exchange.currencies",
        ),
        Check(
            "decimals_within_currency",
            """select b.line_no, b.user_id, b.currency, c.decimals,
                      b.total::text as total, b.locked::text as locked,
                      b.available::text as available
               from {batch} as b
               inner join exchange.currencies as c on c.currency = b.currency
               where trunc(b.total, c.decimals) <> b.total
                  or trunc(b.locked, c.decimals) <> b.locked
                  or trunc(b.available, c.decimals) <> b.available
               order by b.line_no""",
            "amount * 10^decimals is an integer",
        ),
        Check(
            "amount_in_range",
            f"""select line_no, user_id, currency, total::text as total,
                      locked::text as locked, available::text as available
               from {{batch}}
               where abs(total) >= {_AMOUNT_LIMIT} or abs(locked) >= {_AMOUNT_LIMIT}
                  or abs(available) >= {_AMOUNT_LIMIT}
               order by line_no""",
            "amounts below 10^20 (numeric(38,18))",
        ),
    ]


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
) -> SuiteResult:
    """Validate a staged registry capture; raises ValidationFailed when a check breaks."""
    return run_suite(
        database_url,
        business_date,
        REGISTRY_SUITE,
        _batch("eod.me_balances_incoming", capture_id),
        registry_checks(),
        state_dir,
    )


def validate_custody(
    database_url: str,
    business_date: date,
    capture_id: uuid.UUID,
    state_dir: Path | None = None,
) -> SuiteResult:
    """Validate a staged custody capture; raises ValidationFailed when a check breaks."""
    return run_suite(
        database_url,
        business_date,
        CUSTODY_SUITE,
        _batch("eod.custody_balances_incoming", capture_id),
        custody_checks(),
        state_dir,
    )
