"""The platform's rows of a generated exchange (schema `exchange`, CONTRACT section 4).

Users, accounts, trades, their ledger legs and the funding journals, marks, staking
positions, the revenue router, custody wallets and currencies. `TABLES` lists the
COPYs in load order (users before what references them).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from eod.devkit.generate import binary, spec
from eod.devkit.generate.model import Exchange, Options
from eod.devkit.generate.pgcopy import TableSpec, chunks
from eod.devkit.generate.text import CODES, fixed, split, timestamps

# Every platform table the generator writes (a reset empties them, the load analyzes them).
PLATFORM_TABLES = (
    "exchange.ledger_entries",
    "exchange.trades",
    "exchange.accounts",
    "exchange.mark_prices",
    "exchange.staking_positions",
    "exchange.revenue_router",
    "exchange.custody_wallets",
    "exchange.users",
    "exchange.currencies",
)
# Loaded with their secondary indexes dropped and built once afterwards.
INDEXES_REBUILT = ("exchange.trades", "exchange.ledger_entries")

_STATE_NAMES = [state.value for state in spec.STATES]
_BASE_OF = np.array([spec.CURRENCY_INDEX[p.base] for p in spec.PAIRS])
_QUOTE_OF = np.array([spec.CURRENCY_INDEX[p.quote] for p in spec.PAIRS])


def journal_prefix(seed: int) -> int:
    """First 64 bits of every journal_id of this seed (the rest is the journal number)."""
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])


def wallet_count(ex: Exchange) -> int:
    return sum(len(wallets) for wallets in ex.wallets.values())


def upsert_currencies(cur) -> int:
    """The listed currencies, inserted or updated in place (never emptied by a reset)."""
    cur.executemany(
        """insert into exchange.currencies (currency, decimals, custody_tolerance)
           values (%s, %s, %s)
           on conflict (currency) do update
           set decimals = excluded.decimals, custody_tolerance = excluded.custody_tolerance""",
        [(c.code, c.decimals, c.custody_tolerance) for c in spec.CURRENCIES],
    )
    return len(spec.CURRENCIES)


def _users(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    ts = timestamps(ex.user_created_us)
    states = [_STATE_NAMES[s] for s in ex.user_status.tolist()]
    yield "".join(
        f"{i}\t{s}\t{t}Z\n" for i, (s, t) in enumerate(zip(states, ts, strict=True), start=1)
    )


def _accounts(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    users = ex.account_user.tolist()
    codes = [CODES[c] for c in ex.account_currency.tolist()]
    ts = timestamps(ex.account_created_us)
    yield "".join(map("%d\t%s\t%sZ\n".__mod__, zip(users, codes, ts, strict=True)))


def _trades(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    qty_dec = np.array([p.qty_decimals for p in spec.PAIRS])
    price_dec = np.array([p.price_decimals for p in spec.PAIRS])
    row = "%d\t%sZ\t%s\t%s\t%d.%09d\t%d.%09d\t%d\t%d\t%s\t%d.%09d\t%d.%09d\t%s\n"
    for sl in chunks(len(ex.trade_us)):
        pair = ex.trade_pair[sl]
        base, quote = _BASE_OF[pair], _QUOTE_OF[pair]
        ids = range(sl.start + 1, sl.stop + 1)
        base_codes = [CODES[c] for c in base.tolist()]
        quote_codes = [CODES[c] for c in quote.tolist()]
        pw, pf = fixed(ex.trade_price_ticks[sl], price_dec[pair])
        qw, qf = fixed(ex.trade_qty_steps[sl], qty_dec[pair])
        mw, mf = split(ex.trade_maker_fee[sl], quote)
        tw, tf = split(ex.trade_taker_fee[sl], quote)
        side = np.where(ex.trade_taker_buys[sl], "buy", "sell").tolist()
        yield "".join(
            map(
                row.__mod__,
                zip(
                    ids,
                    timestamps(ex.trade_us[sl]),
                    base_codes,
                    quote_codes,
                    pw,
                    pf,
                    qw,
                    qf,
                    ex.trade_maker[sl].tolist(),
                    ex.trade_taker[sl].tolist(),
                    side,
                    mw,
                    mf,
                    tw,
                    tf,
                    quote_codes,
                    strict=True,
                ),
            )
        )


_LEG = "%032x\t{user}\t{account}\t%s\t{sign}%d.%09d\t{kind}\t{ref}\t\\N\t%s\t%sZ\tplatform\n"


@functools.cache
def _leg_dtype(code_len: int, ref_len: int) -> np.dtype:
    """One binary ledger row whose currency and reference_id have these lengths."""
    return np.dtype(
        [
            ("nfields", ">i2"),
            ("journal_len", ">i4"),
            ("journal_hi", ">u8"),
            ("journal_lo", ">u8"),
            ("user_len", ">i4"),
            ("user_id", ">i8"),
            ("account_len", ">i4"),
            ("account", "S4"),
            ("currency_len", ">i4"),
            ("currency", f"S{code_len}"),
            ("amount", binary.numeric_dtype()),
            ("type_len", ">i4"),
            ("type", "S5"),
            ("ref_len", ">i4"),
            ("ref", "u1", (ref_len,)),
            ("reason_len", ">i4"),
            ("date_len", ">i4"),
            ("date", ">i4"),
            ("at_len", ">i4"),
            ("at", ">i8"),
            ("by_len", ">i4"),
            ("by", "S8"),
        ]
    )


def _trade_legs(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[bytes]:
    """Four `user` legs per trade: buyer +base -quote, seller -base +quote (gross).

    Binary COPY rows, batched by the lengths of the currency code and the trade id.
    """
    prefix = journal_prefix(opts.seed)
    pg_days = np.array([d.toordinal() - binary.PG_EPOCH_DAY for d in ex.dates], dtype=np.int64)
    code_bytes = np.array([c.encode() for c in CODES])
    code_len = np.array([len(c) for c in CODES])
    unit_decimals = np.array([c.unit_decimals for c in spec.CURRENCIES])
    yield binary.HEADER
    for sl in chunks(len(ex.trade_us)):
        ids = np.arange(sl.start + 1, sl.stop + 1, dtype=np.int64)
        pair = ex.trade_pair[sl]
        buys = ex.trade_taker_buys[sl]
        buyer = np.where(buys, ex.trade_taker[sl], ex.trade_maker[sl])
        seller = np.where(buys, ex.trade_maker[sl], ex.trade_taker[sl])
        base, quote = _BASE_OF[pair], _QUOTE_OF[pair]
        bu, qu = ex.trade_base_units[sl], ex.trade_quote_units[sl]
        user = np.concatenate([buyer, buyer, seller, seller])
        cur = np.concatenate([base, quote, base, quote])
        units = np.concatenate([bu, qu, bu, qu])
        n = len(ids)
        negative = np.concatenate([np.zeros(n), np.ones(n), np.ones(n), np.zeros(n)]).astype(bool)
        trade = np.tile(ids, 4)
        at = np.tile(ex.trade_us[sl], 4)
        day = pg_days[np.searchsorted(ex.day_end_us, at, side="right")]
        clen = code_len[cur]
        rlen = binary.digit_count(trade)
        for cl in np.unique(clen).tolist():
            for rl in np.unique(rlen[clen == cl]).tolist():
                pick = np.nonzero((clen == cl) & (rlen == rl))[0]
                rows = np.zeros(len(pick), dtype=_leg_dtype(cl, rl))
                rows["nfields"] = 11
                rows["journal_len"] = 16
                rows["journal_hi"] = prefix
                rows["journal_lo"] = trade[pick]
                rows["user_len"] = 8
                rows["user_id"] = user[pick]
                rows["account_len"] = 4
                rows["account"] = b"user"
                rows["currency_len"] = cl
                rows["currency"] = code_bytes[cur[pick]]
                binary.fill_numeric(
                    rows["amount"], units[pick], unit_decimals[cur[pick]], negative[pick]
                )
                rows["type_len"] = 5
                rows["type"] = b"trade"
                rows["ref_len"] = rl
                rows["ref"] = binary.ascii_digits(trade[pick], rl)
                rows["reason_len"] = -1
                rows["date_len"] = 4
                rows["date"] = day[pick]
                rows["at_len"] = 8
                rows["at"] = at[pick] - binary.PG_EPOCH_US
                rows["by_len"] = 8
                rows["by"] = b"platform"
                yield rows.tobytes()
    yield binary.TRAILER


def _funding_legs(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    """Deposits (user +x, house:deposits -x) and withdrawals (user -x, house:withdrawals +x)."""
    prefix = journal_prefix(opts.seed) << 64
    first_journal = len(ex.trade_us) + 1
    deposit = _LEG.format(user="%d", account="user", sign="", kind="deposit", ref="dep-%d")
    deposit += _LEG.format(
        user="\\N", account="house:deposits", sign="-", kind="deposit", ref="dep-%d"
    )
    withdrawal = _LEG.format(user="%d", account="user", sign="-", kind="withdrawal", ref="wd-%d")
    withdrawal += _LEG.format(
        user="\\N", account="house:withdrawals", sign="", kind="withdrawal", ref="wd-%d"
    )
    for sl in chunks(len(ex.funding_us)):
        acc = ex.funding_account[sl]
        cur = ex.account_currency[acc]
        user = ex.account_user[acc].tolist()
        code = [CODES[c] for c in cur.tolist()]
        whole, frac = split(ex.funding_units[sl], cur)
        numbers = list(range(sl.start + 1, sl.stop + 1))
        journals = [prefix | (first_journal + n) for n in numbers]
        days = np.searchsorted(ex.day_end_us, ex.funding_us[sl], side="right")
        bd = [dates[d] for d in days.tolist()]
        ts = timestamps(ex.funding_us[sl])
        is_wd = ex.funding_is_withdrawal[sl].tolist()
        columns = (journals, user, code, whole, frac, numbers, bd, ts)
        for template, wanted in ((deposit, False), (withdrawal, True)):
            picked = [
                [value for value, w in zip(column, is_wd, strict=True) if w == wanted]
                for column in columns
            ]
            j, u, c, w, f, n, d, t = picked
            yield "".join(
                map(template.__mod__, zip(j, u, c, w, f, n, d, t, j, c, w, f, n, d, t, strict=True))
            )


def _marks(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    whole, frac = fixed(ex.mark_ticks, ex.mark_decimals)
    codes = [CODES[c] for c in ex.mark_currency.tolist()]
    ts = timestamps(ex.mark_us)
    yield "".join(map("%s\t%d.%09d\t%sZ\n".__mod__, zip(codes, whole, frac, ts, strict=True)))


def _positions(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    qtra = np.full(len(ex.position_units), spec.CURRENCY_INDEX[spec.STAKING_CURRENCY])
    whole, frac = split(ex.position_units, qtra)
    staked = timestamps(ex.position_staked_us)
    unstaked = [
        "\\N" if u < 0 else f"{t}Z"
        for u, t in zip(
            ex.position_unstaked_us.tolist(),
            timestamps(np.maximum(ex.position_unstaked_us, 0)),
            strict=True,
        )
    ]
    rows = zip(ex.position_user.tolist(), whole, frac, staked, unstaked, strict=True)
    yield "".join(
        f"{i}\t{u}\t{w}.{f:09d}\t{s}Z\t{n}\n" for i, (u, w, f, s, n) in enumerate(rows, start=1)
    )


def _revenue_router(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    yield "".join(f"{d}\t{spec.STAKING_SHARE}\topen\n" for d in dates)


def _custody_wallets(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    yield "".join(
        f"{code}\t{code.lower()}\t{wallet_id}\n"
        for code, wallets in ex.wallets.items()
        for wallet_id, _ in wallets
    )


_LEDGER_COLUMNS = (
    "journal_id, user_id, account, currency, amount, reference_type, reference_id,"
    " reason, business_date, effective_at, created_by"
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "users",
        "exchange.users",
        "user_id, status, created_at",
        _users,
        lambda ex, opts, dates: len(ex.user_status),
    ),
    TableSpec(
        "accounts",
        "exchange.accounts",
        "user_id, currency, created_at",
        _accounts,
        lambda ex, opts, dates: len(ex.account_key),
    ),
    TableSpec(
        "trades",
        "exchange.trades",
        "trade_id, executed_at, base, quote, price, qty, maker_user_id, taker_user_id,"
        " taker_side, maker_fee, taker_fee, fee_currency",
        _trades,
        lambda ex, opts, dates: len(ex.trade_us),
    ),
    TableSpec(
        "ledger_entries",
        "exchange.ledger_entries",
        _LEDGER_COLUMNS,
        _funding_legs,
        lambda ex, opts, dates: 2 * len(ex.funding_us),
    ),
    TableSpec(
        "ledger_entries",
        "exchange.ledger_entries",
        _LEDGER_COLUMNS,
        _trade_legs,
        lambda ex, opts, dates: 4 * len(ex.trade_us),
        binary=True,
    ),
    TableSpec(
        "mark_prices",
        "exchange.mark_prices",
        "currency, price, as_of",
        _marks,
        lambda ex, opts, dates: len(ex.mark_us),
    ),
    TableSpec(
        "staking_positions",
        "exchange.staking_positions",
        "position_id, user_id, amount, staked_at, unstaked_at",
        _positions,
        lambda ex, opts, dates: len(ex.position_units),
    ),
    TableSpec(
        "revenue_router",
        "exchange.revenue_router",
        "business_date, staking_share, status",
        _revenue_router,
        lambda ex, opts, dates: len(dates),
    ),
    TableSpec(
        "custody_wallets",
        "exchange.custody_wallets",
        "currency, coin, wallet_id",
        _custody_wallets,
        lambda ex, opts, dates: wallet_count(ex),
    ),
)
