"""A small hand-made exchange for the dbt model tests (two business dates, 00:00 UTC).

Every number the tests expect is worked out by hand in the tests; this module only
writes the platform rows and the captures. The captured registry, custody and chain
figures are what a sound platform would report: the ledger's balances (deposits plus
the gross trade legs) minus the fees the matching engine took, so a clean day has no
break, and `inject_faults` then breaks it on purpose.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg2

D1 = date(2026, 3, 1)
D2 = date(2026, 3, 2)
D2_START = datetime(2026, 3, 2, tzinfo=UTC)  # a posting instant on D2

CURRENCIES = {  # currency: (decimals, custody tolerance)
    "BTC": (8, Decimal("0")),
    "ETH": (18, Decimal("0")),
    "USDT": (6, Decimal("0.01")),
    "SOL": (9, Decimal("0")),
    "XRP": (6, Decimal("0")),
    "QTRA": (18, Decimal("0")),
}

MARKS = [  # (currency, price in USDT, as_of)
    ("BTC", "100", "2026-02-28T23:00:00Z"),
    ("BTC", "110", "2026-03-01T12:00:00Z"),
    ("BTC", "120", "2026-03-02T12:00:00Z"),
    ("ETH", "10", "2026-03-01T06:00:00Z"),
    ("SOL", "1000", "2026-02-28T06:00:00Z"),
    ("QTRA", "3", "2026-02-28T06:00:00Z"),
]

DEPOSITS = [  # (user, currency, amount), effective 2026-02-28 (before the first close)
    (1, "USDT", "1000"),
    (1, "BTC", "3"),
    (2, "USDT", "1000"),
    (3, "USDT", "1000"),
    (4, "ETH", "5"),
    (5, "USDT", "100000"),
    (6, "SOL", "100"),
]


@dataclass(frozen=True)
class Trade:
    trade_id: int
    executed_at: str
    base: str
    quote: str
    price: str
    qty: str
    maker: int
    taker: int
    taker_side: str
    maker_fee: str
    taker_fee: str
    fee_currency: str


TRADES = [
    # D1: user 1 sells 2 BTC beyond any trade-built position; user 2 buys 2 then sells both
    Trade(
        1, "2026-03-01T09:00:00Z", "BTC", "USDT", "105", "2", 1, 2, "buy", "0.21", "0.42", "USDT"
    ),
    Trade(
        2, "2026-03-01T10:00:00Z", "BTC", "USDT", "130", "1", 3, 2, "sell", "0.13", "0.26", "USDT"
    ),
    Trade(
        3, "2026-03-01T11:00:00Z", "BTC", "USDT", "160", "1", 2, 3, "buy", "0.16", "0.32", "USDT"
    ),
    # ETH quoted in BTC: 0.1 BTC at the BTC mark of D1 (110) is 11 USDT
    Trade(
        4, "2026-03-01T12:30:00Z", "ETH", "BTC", "0.1", "5", 4, 1, "buy", "0.0001", "0.0002", "BTC"
    ),
    # exactly 100,000 USDT of volume for users 5 and 6: the VIP1 threshold
    Trade(5, "2026-03-01T13:00:00Z", "SOL", "USDT", "1000", "100", 5, 6, "sell", "0", "0", "USDT"),
    # D2
    Trade(6, "2026-03-02T09:00:00Z", "BTC", "USDT", "150", "1", 3, 2, "buy", "0.15", "0.3", "USDT"),
]

STAKES = [  # (position_id, user, QTRA, staked_at, unstaked_at)
    (1, 1, "1", "2026-02-01T00:00:00Z", None),
    (2, 2, "1", "2026-02-01T00:00:00Z", None),
    (3, 3, "1", "2026-02-01T00:00:00Z", None),
    (4, 4, "5", "2026-03-01T12:00:00Z", None),
]

ROUTER = [(D1, "0.5", "open")]  # no router row for D2: D2 is gated


def _day(ts: str) -> date:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).date()


def _trade_legs(trade: Trade):
    """The four gross `user` legs the platform posts for a trade."""
    buyer, seller = (
        (trade.taker, trade.maker)
        if trade.taker_side == "buy"
        else (
            trade.maker,
            trade.taker,
        )
    )
    qty, notional = Decimal(trade.qty), Decimal(trade.qty) * Decimal(trade.price)
    return [
        (buyer, trade.base, qty),
        (buyer, trade.quote, -notional),
        (seller, trade.base, -qty),
        (seller, trade.quote, notional),
    ]


def _fees(trade: Trade):
    return [
        (trade.maker, trade.fee_currency, Decimal(trade.maker_fee)),
        (trade.taker, trade.fee_currency, Decimal(trade.taker_fee)),
    ]


def engine_totals(day: date) -> dict[tuple[int, str], Decimal]:
    """What the matching engine holds at the end of `day`: ledger legs minus fees taken."""
    totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for user, currency, amount in DEPOSITS:
        totals[(user, currency)] += Decimal(amount)
    for trade in TRADES:
        if _day(trade.executed_at) <= day:
            for user, currency, amount in _trade_legs(trade):
                totals[(user, currency)] += amount
            for user, currency, fee in _fees(trade):
                totals[(user, currency)] -= fee
    return dict(totals)


def load_platform(conn) -> None:
    """Currencies, users, marks, deposits, trades (with their ledger legs), stakes, router."""
    with conn.cursor() as cur:
        for currency, (decimals, tolerance) in CURRENCIES.items():
            cur.execute(
                "insert into exchange.currencies values (%s, %s, %s) on conflict do nothing",
                (currency, decimals, tolerance),
            )
        for user in range(1, 7):
            cur.execute("insert into exchange.users (user_id) values (%s)", (user,))
        for currency, price, as_of in MARKS:
            cur.execute(
                "insert into exchange.mark_prices values (%s, %s, %s)", (currency, price, as_of)
            )
        for user, currency, amount in DEPOSITS:
            _post(
                cur,
                [
                    ("user", user, currency, Decimal(amount)),
                    ("house:deposits", None, currency, -Decimal(amount)),
                ],
                "deposit",
                f"dep-{user}-{currency}",
                "2026-02-28T12:00:00Z",
            )
        for t in TRADES:
            cur.execute(
                """insert into exchange.trades values
                   (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (
                    t.trade_id,
                    t.executed_at,
                    t.base,
                    t.quote,
                    t.price,
                    t.qty,
                    t.maker,
                    t.taker,
                    t.taker_side,
                    t.maker_fee,
                    t.taker_fee,
                    t.fee_currency,
                ),
            )
            legs = [("user", u, c, a) for u, c, a in _trade_legs(t)]
            _post(cur, legs, "trade", str(t.trade_id), t.executed_at)
        for position in STAKES:
            cur.execute(
                "insert into exchange.staking_positions values (%s, %s, %s, %s, %s)", position
            )
        for row in ROUTER:
            cur.execute("insert into exchange.revenue_router values (%s, %s, %s)", row)


def _post(cur, legs, reference_type: str, reference_id: str, effective_at: str) -> None:
    journal_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{reference_type}/{reference_id}"))
    values = [
        (
            journal_id,
            user,
            account,
            currency,
            amount,
            reference_type,
            reference_id,
            _day(effective_at),
            effective_at,
        )
        for account, user, currency, amount in legs
    ]
    args = ",".join(
        cur.mogrify("(%s,%s,%s,%s,%s,%s,%s,%s,%s,'fixture')", v).decode() for v in values
    )
    cur.execute(
        """insert into exchange.ledger_entries (journal_id, user_id, account, currency, amount,
               reference_type, reference_id, business_date, effective_at, created_by)
           values """
        + args
    )


def capture(conn, day: date) -> None:
    """The captures of `day`: registry, custody (one wallet per currency) and chain."""
    totals = engine_totals(day)
    as_of = f"{day.isoformat()}T23:59:59.999999Z"
    liabilities: dict[str, Decimal] = defaultdict(Decimal)
    with conn.cursor() as cur:
        for (user, currency), total in sorted(totals.items()):
            cur.execute(
                "insert into eod.me_balances values (%s, %s, %s, %s, 0, %s, %s, 1)",
                (day, user, currency, total, total, as_of),
            )
            liabilities[currency] += total
        for currency, amount in liabilities.items():
            units = amount * 10 ** CURRENCIES[currency][0]
            cur.execute(
                "insert into eod.custody_balances values (%s, %s, %s, %s, %s, now())",
                (day, currency, currency.lower(), f"w-{currency}", int(units)),
            )
        staked = sum(
            Decimal(amount) for _, _, amount, staked_at, _ in STAKES if _day(staked_at) <= day
        )
        cur.execute(
            "insert into eod.onchain_staking values (%s, %s, now())",
            (day, int(staked * 10**18)),
        )


def inject_faults(conn, day: date) -> None:
    """Break `day`'s captures: user 1's USDT +5 in the engine, 1 BTC missing in custody,
    one extra QTRA base unit on chain."""
    with conn.cursor() as cur:
        cur.execute(
            """update eod.me_balances set total = total + 5, available = available + 5
               where business_date = %s and user_id = 1 and currency = 'USDT'""",
            (day,),
        )
        cur.execute(
            """update eod.custody_balances set balance_units = balance_units - 100000000
               where business_date = %s and currency = 'BTC'""",
            (day,),
        )
        cur.execute(
            "update eod.onchain_staking set total_staked_units = total_staked_units + 1 "
            "where business_date = %s",
            (day,),
        )


def load(url: str, *days: date) -> None:
    """Platform rows plus the captures of `days`, in one transaction."""
    conn = psycopg2.connect(url)
    try:
        with conn:
            load_platform(conn)
            for day in days:
                capture(conn, day)
    finally:
        conn.close()
