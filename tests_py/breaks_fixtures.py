"""Hand-made reconciliation results for the break-record tests.

The recon marts are dbt's; these tests create the three tables with the columns the
records read and fill them by hand, one business date at a time, so each expected
break is written out here rather than computed by the close.
"""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal

import psycopg2

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)

_RECON_TABLES = """
create table if not exists marts.recon_me_ledger (
    business_date date, user_id bigint, currency text, me_total numeric,
    ledger_total numeric, difference numeric);
create table if not exists marts.recon_custody (
    business_date date, currency text, liabilities numeric, custody_balance numeric,
    difference numeric, tolerance numeric, is_break boolean);
create table if not exists marts.recon_staking (
    business_date date, db_total numeric, onchain_total numeric, difference numeric,
    is_break boolean);
"""


@contextlib.contextmanager
def cursor(url: str):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        yield cur
    conn.close()


def platform(url: str, users: dict[int, str]) -> None:
    """Currencies, users in the given states (inserted, not transitioned), recon tables."""
    with cursor(url) as cur:
        cur.execute(_RECON_TABLES)
        cur.execute(
            "insert into exchange.currencies values ('BTC', 8, 0.0001), ('ETH', 18, 0.001)"
            " on conflict do nothing"
        )
        for user_id, status in users.items():
            cur.execute(
                "insert into exchange.users (user_id, status) values (%s, %s)", (user_id, status)
            )


def recon(
    url: str,
    day: date,
    me_ledger: dict[tuple[int, str], str] = (),
    custody: dict[str, str] = (),
    staking: str | None | bool = False,
) -> None:
    """D's recon rows: engine/ledger breaks {(user, currency): difference}, custody
    breaks {currency: difference} (plus a clean ETH row), staking difference (False:
    no break; None: a break with the on-chain total missing)."""
    with cursor(url) as cur:
        for (user_id, currency), diff in dict(me_ledger).items():
            cur.execute(
                "insert into marts.recon_me_ledger values (%s, %s, %s, %s, 0, %s)",
                (day, user_id, currency, Decimal(diff), Decimal(diff)),
            )
        for currency, diff in dict(custody).items():
            cur.execute(
                "insert into marts.recon_custody values (%s, %s, 10, 10 + %s, %s, 0.0001, true)",
                (day, currency, Decimal(diff), Decimal(diff)),
            )
        cur.execute(
            "insert into marts.recon_custody values (%s, 'ETH', 5, 5, 0, 0.001, false)", (day,)
        )
        if staking is False:
            cur.execute("insert into marts.recon_staking values (%s, 100, 100, 0, false)", (day,))
        elif staking is None:
            cur.execute(
                "insert into marts.recon_staking values (%s, 100, null, null, true)", (day,)
            )
        else:
            cur.execute(
                "insert into marts.recon_staking values (%s, 100, 100 + %s, %s, true)",
                (day, Decimal(staking), Decimal(staking)),
            )


def fetch(url: str, query: str, params=()) -> list[tuple]:
    with cursor(url) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def events(url: str, prefix: str = "eod.break.") -> list[tuple[str, dict]]:
    return fetch(
        url,
        "select subject, payload from eod.outbox where subject like %s order by created_at,"
        " payload->>'break_id'",
        (prefix + "%",),
    )
