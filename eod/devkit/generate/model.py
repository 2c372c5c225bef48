"""The synthetic exchange as numpy arrays, deterministic from a seed.

Nothing here touches the database. Every amount is an int64 count of the currency's
generated unit (see spec.py); times are int64 microseconds since the Unix epoch.
Each part draws from its own child of the seed (numpy SeedSequence.spawn), so that a
fault switch or a change of one part leaves the draws of every other part as they were.

Consistency holds by construction:
- a trade's journal has four legs that cancel per currency;
- an account's opening deposit covers the most negative running balance the engine
  would see after fees, plus a cushion; withdrawals never exceed the cushion, so no
  balance is ever negative;
- registry total = ledger balance - fees the engine took, custody = the registry's
  totals per currency, the on-chain stake = the open positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from eod.business_date import Cutover
from eod.devkit.generate import spec

US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Opening deposits land in the first minute of the first day; trading starts after it.
FUNDING_WINDOW_US = 60 * US_PER_S

N_CUR = len(spec.CURRENCIES)
_UNIT_DECIMALS = np.array([c.unit_decimals for c in spec.CURRENCIES], dtype=np.int64)
_CUSHION = np.array([c.cushion_units for c in spec.CURRENCIES], dtype=np.float64)
_USDT = spec.CURRENCY_INDEX["USDT"]
# Chance that a holder keeps a balance in each currency other than USDT.
HELD_SHARE = 0.33


def to_us(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Options:
    seed: int
    users: int
    days: int
    trades_per_day: int
    start: date
    cutover: Cutover
    registry_days: int
    break_ledger: int = 0
    custody_drift: dict[str, int] = field(default_factory=dict)  # currency -> base units
    staking_drift: int = 0  # QTRA base units
    fault_date: date | None = None

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def fault_day(self) -> int:
        """Index of the day the faults apply to (default: the last one)."""
        if self.fault_date is None:
            return self.days - 1
        return (self.fault_date - self.start).days


@dataclass
class Exchange:
    """Everything generated; arrays are aligned per entity."""

    dates: list[date]
    day_start_us: np.ndarray
    day_end_us: np.ndarray
    # users
    user_status: np.ndarray  # index into spec.STATES, user_id = position + 1
    user_created_us: np.ndarray
    # trades (trade_id = position + 1, in executed_at order)
    trade_us: np.ndarray
    trade_pair: np.ndarray
    trade_maker: np.ndarray
    trade_taker: np.ndarray
    trade_taker_buys: np.ndarray
    trade_qty_steps: np.ndarray
    trade_price_ticks: np.ndarray
    trade_base_units: np.ndarray
    trade_quote_units: np.ndarray
    trade_maker_fee: np.ndarray
    trade_taker_fee: np.ndarray
    # accounts: key = user_id * N_CUR + currency index, sorted
    account_key: np.ndarray
    account_created_us: np.ndarray
    # deposits and withdrawals (one journal each; amount > 0, sign by kind)
    funding_account: np.ndarray  # index into account_key
    funding_us: np.ndarray
    funding_units: np.ndarray
    funding_is_withdrawal: np.ndarray
    # marks
    mark_currency: np.ndarray
    mark_us: np.ndarray
    mark_ticks: np.ndarray
    mark_decimals: np.ndarray
    # staking positions (unstaked_us = -1 when still staked)
    position_user: np.ndarray
    position_units: np.ndarray
    position_staked_us: np.ndarray
    position_unstaked_us: np.ndarray
    # custody wallets: per currency a list of (wallet_id, share)
    wallets: dict[str, list[tuple[str, int]]]
    # matching engine at the end of the kept days (columns), per account (rows)
    registry_days: list[int]
    registry_total: np.ndarray
    registry_locked: np.ndarray
    sequence: np.ndarray  # per day
    # per currency per day, in units: what users own after fees (custody before drift)
    owned_units: np.ndarray
    onchain_units: np.ndarray  # per day, QTRA units (before drift)
    broken_accounts: list[tuple[int, str, int]] = field(default_factory=list)

    @property
    def account_user(self) -> np.ndarray:
        return self.account_key // N_CUR

    @property
    def account_currency(self) -> np.ndarray:
        return self.account_key % N_CUR


class _Skewed:
    """Draws users with Zipf-like weights: a few users do most of the trading."""

    def __init__(self, rng: np.random.Generator, ids: np.ndarray, exponent: float = 1.1):
        ranks = rng.permutation(len(ids)) + 1
        weights = ranks.astype(np.float64) ** -exponent
        self._cdf = np.cumsum(weights)
        self._ids = ids
        self._rng = rng

    def draw(self, n: int) -> np.ndarray:
        pick = np.searchsorted(self._cdf, self._rng.random(n) * self._cdf[-1], side="right")
        return self._ids[np.minimum(pick, len(self._ids) - 1)]


def generate(opts: Options) -> Exchange:
    streams = np.random.SeedSequence(opts.seed).spawn(8)
    rng_users, rng_trades, rng_prices, rng_funding, rng_registry, rng_staking, rng_wallets = (
        np.random.default_rng(s) for s in streams[:7]
    )
    rng_faults = np.random.default_rng(streams[7])

    dates = opts.dates
    windows = [opts.cutover.window(d) for d in dates]
    day_start = np.array([to_us(s) for s, _ in windows], dtype=np.int64)
    day_end = np.array([to_us(e) for _, e in windows], dtype=np.int64)
    first_us, last_us = int(day_start[0]), int(day_end[-1])

    # --- users -------------------------------------------------------------------
    n_users = opts.users
    shares = np.array([spec.STATE_SHARE_PERMILLE[state] for state in spec.STATES])
    status = rng_users.choice(len(spec.STATES), size=n_users, p=shares / 1000).astype(np.int64)
    # Every state is present and at least two users can trade, whatever the draw.
    status[:2] = spec.ACTIVE
    others = [i for i in range(len(spec.STATES)) if i != spec.ACTIVE]
    status[n_users - len(others) :] = others
    created = first_us - rng_users.integers(US_PER_DAY, 400 * US_PER_DAY, size=n_users)
    user_ids = np.arange(1, n_users + 1, dtype=np.int64)
    active_ids = user_ids[status == spec.ACTIVE]

    # --- trades ------------------------------------------------------------------
    pairs = spec.PAIRS
    pair_cdf = np.cumsum([p.weight for p in pairs])
    traders = _Skewed(rng_trades, active_ids)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("us", "pair", "maker", "taker", "buy")}
    n = opts.trades_per_day
    for day in range(opts.days):
        lo = int(day_start[day]) + (FUNDING_WINDOW_US if day == 0 else 0)
        us = np.sort(rng_trades.integers(lo, int(day_end[day]), size=n))
        pair = np.searchsorted(pair_cdf, rng_trades.integers(0, 100, size=n), side="right")
        maker = traders.draw(n)
        taker = traders.draw(n)
        clash = maker == taker
        while clash.any():
            taker[clash] = traders.draw(int(clash.sum()))
            clash = maker == taker
        parts["us"].append(us)
        parts["pair"].append(pair)
        parts["maker"].append(maker)
        parts["taker"].append(taker)
        parts["buy"].append(rng_trades.integers(0, 2, size=n).astype(bool))
    trade_us, trade_pair, maker, taker, taker_buys = (
        np.concatenate(parts[k]) for k in ("us", "pair", "maker", "taker", "buy")
    )
    n_trades = len(trade_us)

    # Prices: an integer random walk per pair in its ticks, with a daily move of a few
    # percent whatever the number of trades; quantities: geometric in qty steps.
    qty = np.zeros(n_trades, dtype=np.int64)
    price = np.zeros(n_trades, dtype=np.int64)
    for k, p in enumerate(pairs):
        where = np.nonzero(trade_pair == k)[0]
        per_day = max(1, len(where) // max(1, opts.days))
        step = max(1, int(0.05 * p.start_price_ticks / np.sqrt(per_day)))
        walk = p.start_price_ticks + np.cumsum(rng_prices.integers(-step, step + 1, len(where)))
        price[where] = np.maximum(walk, p.start_price_ticks // 4)
        qty[where] = rng_prices.geometric(1.0 / p.mean_qty_steps, len(where))
    base_idx = np.array([spec.CURRENCY_INDEX[p.base] for p in pairs], dtype=np.int64)[trade_pair]
    quote_idx = np.array([spec.CURRENCY_INDEX[p.quote] for p in pairs], dtype=np.int64)[trade_pair]
    step_to_unit = np.array(
        [
            10 ** (spec.CURRENCIES[spec.CURRENCY_INDEX[p.base]].unit_decimals - p.qty_decimals)
            for p in pairs
        ],
        dtype=np.int64,
    )[trade_pair]
    base_units = qty * step_to_unit
    quote_units = qty * price  # exact: qty_decimals + price_decimals = quote decimals
    maker_fee = quote_units * spec.MAKER_FEE_BPS // 10_000
    taker_fee = quote_units * spec.TAKER_FEE_BPS // 10_000

    buyer = np.where(taker_buys, taker, maker)
    seller = np.where(taker_buys, maker, taker)
    buyer_fee = np.where(taker_buys, taker_fee, maker_fee)
    seller_fee = np.where(taker_buys, maker_fee, taker_fee)

    # Trade legs as engine events: ledger amount minus the fee the engine took.
    ev_key = np.concatenate(
        [
            buyer * N_CUR + base_idx,
            buyer * N_CUR + quote_idx,
            seller * N_CUR + base_idx,
            seller * N_CUR + quote_idx,
        ]
    )
    ev_us = np.tile(trade_us, 4)
    ev_engine = np.concatenate(
        [base_units, -quote_units - buyer_fee, -base_units, quote_units - seller_fee]
    )

    # --- accounts and funding ----------------------------------------------------
    holders = user_ids[np.isin(status, (spec.ACTIVE, *spec.HOLDING_STATES))]
    extra = holders[(status[holders - 1] != spec.ACTIVE) & (rng_funding.random(len(holders)) < 0.5)]
    extra_cur = rng_funding.choice([i for i in range(N_CUR) if i != _USDT], size=len(extra))
    # Holders also keep some of the other currencies whether or not they trade them, as
    # on a mid-size venue (about three accounts per user, trading included).
    kept = rng_funding.random((len(holders), N_CUR)) < HELD_SHARE
    kept[:, _USDT] = False
    kept_holder, kept_cur = np.nonzero(kept)
    account_key = np.unique(
        np.concatenate(
            [
                ev_key,
                holders * N_CUR + _USDT,
                extra * N_CUR + extra_cur,
                holders[kept_holder] * N_CUR + kept_cur,
            ]
        )
    )
    n_acc = len(account_key)

    # Most negative running engine balance per account, trades in time order.
    order = np.lexsort((ev_us, ev_key))
    skey = ev_key[order]
    running = np.cumsum(ev_engine[order])
    starts = np.concatenate([[0], np.nonzero(np.diff(skey))[0] + 1]) if len(skey) else skey
    before = np.where(starts > 0, running[starts - 1], 0) if len(skey) else running
    group_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(skey))))
    in_group = running - before[group_of] if len(skey) else running
    lowest = np.minimum.reduceat(in_group, starts) if len(skey) else in_group
    need = np.zeros(n_acc, dtype=np.int64)
    if len(skey):
        need[np.searchsorted(account_key, skey[starts])] = np.maximum(0, -lowest)
    del order, skey, running, group_of, in_group

    acc_cur = account_key % N_CUR
    acc_user = account_key // N_CUR
    cushion = rng_funding.geometric(1.0 / _CUSHION[acc_cur]).astype(np.int64)
    deposit = need + cushion
    deposit_us = first_us + rng_funding.integers(0, FUNDING_WINDOW_US, size=n_acc)
    topup = np.nonzero(rng_funding.random(n_acc) < 0.1)[0]
    topup_units = rng_funding.geometric(1.0 / _CUSHION[acc_cur[topup]]).astype(np.int64)
    topup_us = rng_funding.integers(first_us + FUNDING_WINDOW_US, last_us, size=len(topup))
    may_withdraw = np.isin(status[acc_user - 1], spec.WITHDRAWING_STATES)
    withdraw = np.nonzero(may_withdraw & (rng_funding.random(n_acc) < 0.2))[0]
    # Never more than the cushion, so the balance stays non-negative at every instant.
    withdraw_units = rng_funding.integers(1, cushion[withdraw] + 1)
    withdraw_us = rng_funding.integers(first_us + FUNDING_WINDOW_US, last_us, size=len(withdraw))

    funding_account = np.concatenate([np.arange(n_acc), topup, withdraw])
    funding_us = np.concatenate([deposit_us, topup_us, withdraw_us])
    funding_units = np.concatenate([deposit, topup_units, withdraw_units])
    funding_is_withdrawal = np.concatenate(
        [np.zeros(n_acc + len(topup), dtype=bool), np.ones(len(withdraw), dtype=bool)]
    )

    # --- engine registry, custody, sequence --------------------------------------
    all_acc = np.concatenate([np.searchsorted(account_key, ev_key), funding_account])
    all_us = np.concatenate([ev_us, funding_us])
    all_delta = np.concatenate(
        [ev_engine, np.where(funding_is_withdrawal, -funding_units, funding_units)]
    )
    all_day = np.searchsorted(day_end, all_us, side="right")
    del ev_key, ev_us, ev_engine

    keep = min(opts.registry_days, opts.days)
    first_kept = opts.days - keep
    col = np.clip(all_day - first_kept + 1, 0, keep)
    flat = np.zeros(n_acc * (keep + 1), dtype=np.int64)
    np.add.at(flat, all_acc * (keep + 1) + col, all_delta)
    totals = np.cumsum(flat.reshape(n_acc, keep + 1), axis=1)[:, 1:].copy()
    del flat
    if (totals < 0).any():  # pragma: no cover - a defect of this module, not of input
        raise AssertionError("generated a negative engine balance")
    pct = rng_registry.integers(0, 51, size=totals.shape)
    pct[rng_registry.random(totals.shape) < 0.5] = 0
    pct[status[acc_user - 1] != spec.ACTIVE] = 0  # only active users have open orders
    locked = totals // 100 * pct + totals % 100 * pct // 100

    cur_flat = np.zeros(N_CUR * opts.days, dtype=np.int64)
    np.add.at(cur_flat, account_key[all_acc] % N_CUR * opts.days + all_day, all_delta)
    owned = np.cumsum(cur_flat.reshape(N_CUR, opts.days), axis=1)
    journals_per_day = np.bincount(
        np.searchsorted(day_end, trade_us, side="right"), minlength=opts.days
    )[: opts.days]
    journals_per_day += np.bincount(
        np.searchsorted(day_end, funding_us, side="right"), minlength=opts.days
    )[: opts.days]
    sequence = np.cumsum(journals_per_day)

    # --- marks: the last trade price of X/USDT before each mark instant ----------
    mark_cur, mark_us, mark_ticks, mark_dec = [], [], [], []
    offsets = [
        day_start + (day_end - day_start) * j // spec.MARKS_PER_DAY - US_PER_S
        for j in range(1, spec.MARKS_PER_DAY + 1)
    ]
    instants = np.sort(np.concatenate(offsets))
    for ci, cur in enumerate(spec.CURRENCIES):
        if cur.code == spec.VALUATION:
            ticks, decimals = np.ones(len(instants), dtype=np.int64), 0
        else:
            k = next(i for i, p in enumerate(pairs) if p.base == cur.code and p.quote == "USDT")
            where = np.nonzero(trade_pair == k)[0]
            pos = np.searchsorted(trade_us[where], instants, side="left") - 1
            ticks = np.where(pos >= 0, price[where][np.maximum(pos, 0)], pairs[k].start_price_ticks)
            decimals = pairs[k].price_decimals
        mark_cur.append(np.full(len(instants), ci))
        mark_us.append(instants)
        mark_ticks.append(ticks)
        mark_dec.append(np.full(len(instants), decimals))

    # --- staking positions (no ledger movement) ----------------------------------
    n_stakers = min(len(active_ids), max(2, len(active_ids) // 20))
    stakers = rng_staking.choice(active_ids, size=n_stakers, replace=False)
    per_staker = rng_staking.integers(1, 4, size=n_stakers)
    position_user = np.sort(np.repeat(stakers, per_staker))
    n_pos = len(position_user)
    position_units = rng_staking.geometric(1.0 / 5e11, size=n_pos).astype(np.int64)
    staked = rng_staking.integers(first_us - 30 * US_PER_DAY, last_us - 3600 * US_PER_S, n_pos)
    unstaked = staked + rng_staking.integers(3600 * US_PER_S, 20 * US_PER_DAY, size=n_pos)
    unstaked[(rng_staking.random(n_pos) >= 0.35) | (unstaked >= last_us)] = -1
    open_at_end = (staked[None, :] < day_end[:, None]) & (
        (unstaked[None, :] < 0) | (unstaked[None, :] >= day_end[:, None])
    )
    onchain = (open_at_end * position_units[None, :]).sum(axis=1)

    # --- custody wallets ---------------------------------------------------------
    wallets: dict[str, list[tuple[str, int]]] = {}
    for cur in spec.CURRENCIES:
        ids = rng_wallets.integers(0, 2**63, size=(cur.wallets, 2))
        shares = rng_wallets.integers(1, 10, size=cur.wallets)
        wallets[cur.code] = [
            (f"{int(a):016x}{int(b):016x}", int(s)) for (a, b), s in zip(ids, shares, strict=True)
        ]

    ex = Exchange(
        dates=dates,
        day_start_us=day_start,
        day_end_us=day_end,
        user_status=status,
        user_created_us=created,
        trade_us=trade_us,
        trade_pair=trade_pair,
        trade_maker=maker,
        trade_taker=taker,
        trade_taker_buys=taker_buys,
        trade_qty_steps=qty,
        trade_price_ticks=price,
        trade_base_units=base_units,
        trade_quote_units=quote_units,
        trade_maker_fee=maker_fee,
        trade_taker_fee=taker_fee,
        account_key=account_key,
        account_created_us=deposit_us,
        funding_account=funding_account,
        funding_us=funding_us,
        funding_units=funding_units,
        funding_is_withdrawal=funding_is_withdrawal,
        mark_currency=np.concatenate(mark_cur),
        mark_us=np.concatenate(mark_us),
        mark_ticks=np.concatenate(mark_ticks),
        mark_decimals=np.concatenate(mark_dec),
        position_user=position_user,
        position_units=position_units,
        position_staked_us=staked,
        position_unstaked_us=unstaked,
        wallets=wallets,
        registry_days=list(range(first_kept, opts.days)),
        registry_total=totals,
        registry_locked=locked,
        sequence=sequence,
        owned_units=owned,
        onchain_units=onchain,
    )
    _break_ledger(ex, opts, rng_faults)
    return ex


def _break_ledger(ex: Exchange, opts: Options, rng: np.random.Generator) -> None:
    """Drift the engine total (and available) of one account of N users on the fault day."""
    if not opts.break_ledger:
        return
    col = ex.registry_days.index(opts.fault_day)
    users = np.unique(ex.account_user)
    chosen = np.sort(rng.choice(users, size=opts.break_ledger, replace=False))
    for user in chosen:
        rows = np.nonzero(ex.account_user == user)[0]
        row = int(rows[rng.integers(0, len(rows))])
        drift = int(rng.integers(1, 1000))
        ex.registry_total[row, col] += drift
        currency = spec.CURRENCIES[int(ex.account_key[row] % N_CUR)].code
        ex.broken_accounts.append((int(user), currency, drift))
