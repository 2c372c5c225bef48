"""What the synthetic exchange lists: currencies, pairs and their scales.

Amounts are generated as integers in a currency's *unit*: 10^-unit_decimals of the
currency, never finer than its real decimals. Units keep 18-decimal currencies
inside int64 (10^-18 ETH would overflow at 9.2 ETH); a unit becomes a decimal string
or base units only when written out.

A pair's quantity step (10^-qty_decimals) and price tick (10^-price_decimals) are
chosen so that qty_decimals + price_decimals = the quote's decimals: qty * price is
then an exact integer number of quote base units, so the quote leg of a trade needs
no rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

from fsm.machine import MACHINE, Guard, State


@dataclass(frozen=True)
class Currency:
    code: str
    decimals: int  # exchange.currencies.decimals
    unit_decimals: int  # granularity of generated amounts
    custody_tolerance: str  # currency units
    cushion_units: int  # mean spare balance of an account, in units (~2,000 USDT)
    wallets: int  # custody wallets, 1 to 3

    @property
    def coin(self) -> str:
        """The BitGo coin name."""
        return self.code.lower()

    @property
    def unit_to_base(self) -> int:
        """Base units (10^-decimals) per generated unit."""
        return 10 ** (self.decimals - self.unit_decimals)


@dataclass(frozen=True)
class Pair:
    base: str
    quote: str
    qty_decimals: int
    price_decimals: int
    start_price_ticks: int
    mean_qty_steps: int
    weight: int  # share of the venue's trades, in percent

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"


CURRENCIES: tuple[Currency, ...] = (
    Currency("BTC", 8, 8, "0.0001", 3_000_000, 3),
    Currency("ETH", 18, 6, "0.001", 600_000, 2),
    Currency("USDT", 6, 6, "1", 2_000_000_000, 3),
    Currency("SOL", 9, 6, "0.01", 13_000_000, 2),
    Currency("XRP", 6, 6, "1", 4_000_000_000, 1),
    Currency("QTRA", 18, 8, "1", 100_000_000_000, 1),
)
CURRENCY_INDEX = {c.code: i for i, c in enumerate(CURRENCIES)}
VALUATION = "USDT"
STAKING_CURRENCY = "QTRA"

PAIRS: tuple[Pair, ...] = (
    Pair("BTC", "USDT", 4, 2, 6_000_000, 500, 35),  # 60,000.00
    Pair("ETH", "USDT", 4, 2, 300_000, 10_000, 25),  # 3,000.00
    Pair("SOL", "USDT", 3, 3, 150_000, 20_000, 12),  # 150.000
    Pair("XRP", "USDT", 2, 4, 5_000, 200_000, 10),  # 0.5000
    Pair("QTRA", "USDT", 2, 4, 20_000, 50_000, 8),  # 2.0000
    Pair("ETH", "BTC", 3, 5, 5_000, 1_000, 10),  # 0.05000 BTC
)

# Fees the engine takes in real time, in basis points of qty * price.
MAKER_FEE_BPS = 10
TAKER_FEE_BPS = 20

# Account states: the machine's (fsm/, from seeds/account_states.csv), in the seed's
# order; user_status holds an index into STATES. Shares: how common each state is
# among generated users, per mille.
STATES: tuple[State, ...] = tuple(State)
STATE_SHARE_PERMILLE: dict[State, int] = {
    State.pending_kyc: 30,
    State.kyc_rejected: 10,
    State.kyc_approved: 20,
    State.active: 860,
    State.suspended: 30,
    State.restricted: 20,
    State.closed: 20,
    State.banned: 10,
}
ACTIVE = STATES.index(State.active)


def _keeps_balances(state: State) -> bool:
    """Entered from active without the balances having to be zero: an account in this
    state keeps what it held while it could trade."""
    move = MACHINE.transitions.get((State.active, state))
    return move is not None and move.guard is not Guard.ZERO_BALANCES


# Users in these states keep balances they had before (no trading); the others have none.
HOLDING_STATES = tuple(i for i, state in enumerate(STATES) if _keeps_balances(state))
WITHDRAWING_STATES = tuple(i for i, state in enumerate(STATES) if MACHINE.can_withdraw(state))

STAKING_SHARE = "0.25"
MARKS_PER_DAY = 4
MIN_USERS = 10


def _check() -> None:
    decimals = {c.code: c for c in CURRENCIES}
    for pair in PAIRS:
        base, quote = decimals[pair.base], decimals[pair.quote]
        assert pair.qty_decimals + pair.price_decimals == quote.unit_decimals == quote.decimals
        assert pair.qty_decimals <= base.unit_decimals
    assert sum(p.weight for p in PAIRS) == 100
    assert set(STATE_SHARE_PERMILLE) == set(STATES)
    assert sum(STATE_SHARE_PERMILLE.values()) == 1000


_check()
