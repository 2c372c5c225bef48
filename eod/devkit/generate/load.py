"""Writing a generated exchange: COPY from streamed text buffers, one transaction.

Rows are formatted from the integer arrays in chunks and fed to `copy_expert` as they
are produced, so Postgres parses one chunk while the next is formatted and no table
is ever held whole as text. Amounts are written as `<int>.<9 digits>`: every
generated unit has at most 9 decimals, so the fraction is exact.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import date

import numpy as np
import psycopg2
import psycopg2.errors

from eod.devkit.generate import binary, spec
from eod.devkit.generate.model import N_CUR, Exchange, Options
from eod.errors import InputError

log = logging.getLogger(__name__)

CHUNK = 100_000
_FRAC = 9
_SCALE = np.array([10 ** (_FRAC - c.unit_decimals) for c in spec.CURRENCIES], dtype=np.int64)
_DIV = np.array([10**c.unit_decimals for c in spec.CURRENCIES], dtype=np.int64)
_CODES = [c.code for c in spec.CURRENCIES]

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
SIM_TABLES = (
    "sim.generation",
    "sim.me_snapshots",
    "sim.me_registry",
    "sim.me_cancelled_orders",
    "sim.custody_wallet_balances",
    "sim.onchain_staked",
)


class _Stream(io.RawIOBase):
    """A read-only file over an iterator of text chunks (what copy_expert reads)."""

    def __init__(self, chunks: Iterable[str | bytes]):
        self._chunks: Iterator[str | bytes] = iter(chunks)
        self._buf = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._buf):  # an empty chunk is not the end
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buf = chunk if isinstance(chunk, bytes) else chunk.encode()
            self._pos = 0
        end = len(self._buf) if size < 0 else self._pos + size
        out = self._buf[self._pos : end]
        self._pos += len(out)
        return out


def _copy(
    cur, table: str, columns: str, chunks: Iterable[str | bytes], binary: bool = False
) -> int:
    started = time.perf_counter()
    options = " with (format binary)" if binary else ""
    cur.copy_expert(f"copy {table} ({columns}) from stdin{options}", _Stream(chunks), size=1 << 20)
    log.info("copy %s: %d rows in %.1fs", table, cur.rowcount, time.perf_counter() - started)
    return cur.rowcount


def _timestamps(us: np.ndarray) -> list[str]:
    return np.datetime_as_string(us.astype("datetime64[us]"), unit="us").tolist()


def _split(units: np.ndarray, currency: np.ndarray) -> tuple[list[int], list[int]]:
    """Integer part and 9-digit fraction of non-negative unit counts."""
    whole, frac = np.divmod(units, _DIV[currency])
    return whole.tolist(), (frac * _SCALE[currency]).tolist()


def _fixed(ticks: np.ndarray, decimals: np.ndarray) -> tuple[list[int], list[int]]:
    """Integer part and 9-digit fraction of a count of 10^-decimals."""
    whole, frac = np.divmod(ticks, 10 ** decimals.astype(np.int64))
    return whole.tolist(), (frac * 10 ** (_FRAC - decimals.astype(np.int64))).tolist()


def _chunks(n: int) -> Iterator[slice]:
    for lo in range(0, n, CHUNK):
        yield slice(lo, min(n, lo + CHUNK))


def journal_prefix(seed: int) -> int:
    """First 64 bits of every journal_id of this seed (the rest is the journal number)."""
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])


# --- platform tables ---------------------------------------------------------------


def _users(ex: Exchange) -> Iterator[str]:
    ts = _timestamps(ex.user_created_us)
    states = [spec.STATES[s] for s in ex.user_status.tolist()]
    yield "".join(
        f"{i}\t{s}\t{t}Z\n" for i, (s, t) in enumerate(zip(states, ts, strict=True), start=1)
    )


def _accounts(ex: Exchange) -> Iterator[str]:
    users = ex.account_user.tolist()
    codes = [_CODES[c] for c in ex.account_currency.tolist()]
    ts = _timestamps(ex.account_created_us)
    yield "".join(map("%d\t%s\t%sZ\n".__mod__, zip(users, codes, ts, strict=True)))


def _pair_columns(ex: Exchange, sl: slice):
    pair = ex.trade_pair[sl]
    base = np.array([spec.CURRENCY_INDEX[p.base] for p in spec.PAIRS])[pair]
    quote = np.array([spec.CURRENCY_INDEX[p.quote] for p in spec.PAIRS])[pair]
    return pair, base, quote


def _trades(ex: Exchange) -> Iterator[str]:
    qty_dec = np.array([p.qty_decimals for p in spec.PAIRS])
    price_dec = np.array([p.price_decimals for p in spec.PAIRS])
    row = "%d\t%sZ\t%s\t%s\t%d.%09d\t%d.%09d\t%d\t%d\t%s\t%d.%09d\t%d.%09d\t%s\n"
    for sl in _chunks(len(ex.trade_us)):
        pair, base, quote = _pair_columns(ex, sl)
        ids = range(sl.start + 1, sl.stop + 1)
        base_codes = [_CODES[c] for c in base.tolist()]
        quote_codes = [_CODES[c] for c in quote.tolist()]
        pw, pf = _fixed(ex.trade_price_ticks[sl], price_dec[pair])
        qw, qf = _fixed(ex.trade_qty_steps[sl], qty_dec[pair])
        mw, mf = _split(ex.trade_maker_fee[sl], quote)
        tw, tf = _split(ex.trade_taker_fee[sl], quote)
        side = np.where(ex.trade_taker_buys[sl], "buy", "sell").tolist()
        yield "".join(
            map(
                row.__mod__,
                zip(
                    ids,
                    _timestamps(ex.trade_us[sl]),
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


def _trade_legs(ex: Exchange, seed: int) -> Iterator[bytes]:
    """Four `user` legs per trade: buyer +base -quote, seller -base +quote (gross).

    Binary COPY rows, batched by the lengths of the currency code and the trade id.
    """
    prefix = journal_prefix(seed)
    pg_days = np.array([d.toordinal() - binary.PG_EPOCH_DAY for d in ex.dates], dtype=np.int64)
    base_of = np.array([spec.CURRENCY_INDEX[p.base] for p in spec.PAIRS])
    quote_of = np.array([spec.CURRENCY_INDEX[p.quote] for p in spec.PAIRS])
    code_bytes = np.array([c.encode() for c in _CODES])
    code_len = np.array([len(c) for c in _CODES])
    unit_decimals = np.array([c.unit_decimals for c in spec.CURRENCIES])
    yield binary.HEADER
    for sl in _chunks(len(ex.trade_us)):
        ids = np.arange(sl.start + 1, sl.stop + 1, dtype=np.int64)
        pair = ex.trade_pair[sl]
        buys = ex.trade_taker_buys[sl]
        buyer = np.where(buys, ex.trade_taker[sl], ex.trade_maker[sl])
        seller = np.where(buys, ex.trade_maker[sl], ex.trade_taker[sl])
        base, quote = base_of[pair], quote_of[pair]
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


def _funding_legs(ex: Exchange, seed: int, dates: list[str]) -> Iterator[str]:
    """Deposits (user +x, house:deposits -x) and withdrawals (user -x, house:withdrawals +x)."""
    prefix = journal_prefix(seed) << 64
    first_journal = len(ex.trade_us) + 1
    deposit = _LEG.format(user="%d", account="user", sign="", kind="deposit", ref="dep-%d")
    deposit += _LEG.format(
        user="\\N", account="house:deposits", sign="-", kind="deposit", ref="dep-%d"
    )
    withdrawal = _LEG.format(user="%d", account="user", sign="-", kind="withdrawal", ref="wd-%d")
    withdrawal += _LEG.format(
        user="\\N", account="house:withdrawals", sign="", kind="withdrawal", ref="wd-%d"
    )
    for sl in _chunks(len(ex.funding_us)):
        acc = ex.funding_account[sl]
        cur = ex.account_currency[acc]
        user = ex.account_user[acc].tolist()
        code = [_CODES[c] for c in cur.tolist()]
        whole, frac = _split(ex.funding_units[sl], cur)
        numbers = list(range(sl.start + 1, sl.stop + 1))
        journals = [prefix | (first_journal + n) for n in numbers]
        days = np.searchsorted(ex.day_end_us, ex.funding_us[sl], side="right")
        bd = [dates[d] for d in days.tolist()]
        ts = _timestamps(ex.funding_us[sl])
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


def _marks(ex: Exchange) -> Iterator[str]:
    whole, frac = _fixed(ex.mark_ticks, ex.mark_decimals)
    codes = [_CODES[c] for c in ex.mark_currency.tolist()]
    ts = _timestamps(ex.mark_us)
    yield "".join(map("%s\t%d.%09d\t%sZ\n".__mod__, zip(codes, whole, frac, ts, strict=True)))


def _positions(ex: Exchange) -> Iterator[str]:
    qtra = np.full(len(ex.position_units), spec.CURRENCY_INDEX[spec.STAKING_CURRENCY])
    whole, frac = _split(ex.position_units, qtra)
    staked = _timestamps(ex.position_staked_us)
    unstaked = [
        "\\N" if u < 0 else f"{t}Z"
        for u, t in zip(
            ex.position_unstaked_us.tolist(),
            _timestamps(np.maximum(ex.position_unstaked_us, 0)),
            strict=True,
        )
    ]
    rows = zip(ex.position_user.tolist(), whole, frac, staked, unstaked, strict=True)
    yield "".join(
        f"{i}\t{u}\t{w}.{f:09d}\t{s}Z\t{n}\n" for i, (u, w, f, s, n) in enumerate(rows, start=1)
    )


# --- what the simulators serve -------------------------------------------------------


def _registry(ex: Exchange, dates: list[str]) -> Iterator[str]:
    users = ex.account_user.tolist()
    cur = ex.account_currency
    codes = [_CODES[c] for c in cur.tolist()]
    for col, day in enumerate(ex.registry_days):
        total = ex.registry_total[:, col]
        locked = ex.registry_locked[:, col]
        tw, tf = _split(total, cur)
        lw, lf = _split(locked, cur)
        aw, af = _split(total - locked, cur)
        d = dates[day]
        rows = zip(users, codes, tw, tf, lw, lf, aw, af, strict=True)
        yield "".join(
            f"{d}\t{u}\t{c}\t{a}.{b:09d}\t{e}.{f:09d}\t{g}.{h:09d}\n"
            for u, c, a, b, e, f, g, h in rows
        )


def custody_units(ex: Exchange, opts: Options) -> dict[tuple[int, str], int]:
    """Custody per (day, currency) in base units, with the custody drift on the fault day."""
    out = {}
    for day in range(len(ex.dates)):
        for ci, cur in enumerate(spec.CURRENCIES):
            units = int(ex.owned_units[ci, day]) * cur.unit_to_base
            if day == opts.fault_day:
                units += opts.custody_drift.get(cur.code, 0)
            out[day, cur.code] = units
    return out


def _wallet_rows(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    rows = []
    for (day, code), units in custody_units(ex, opts).items():
        wallets = ex.wallets[code]
        drift = opts.custody_drift.get(code, 0) if day == opts.fault_day else 0
        owned = units - drift
        weights = sum(share for _, share in wallets)
        parts = [owned * share // weights for _, share in wallets]
        parts[0] += owned - sum(parts) + drift  # remainder and drift on the first wallet
        coin = spec.CURRENCIES[spec.CURRENCY_INDEX[code]].coin
        for no, ((wallet_id, _), part) in enumerate(zip(wallets, parts, strict=True), start=1):
            rows.append(f"{dates[day]}\t{code}\t{coin}\t{wallet_id}\t{no}\t{part}\n")
    yield "".join(rows)


def onchain_units(ex: Exchange, opts: Options) -> list[int]:
    qtra = spec.CURRENCIES[spec.CURRENCY_INDEX[spec.STAKING_CURRENCY]]
    out = [int(u) * qtra.unit_to_base for u in ex.onchain_units.tolist()]
    out[opts.fault_day] += opts.staking_drift
    return out


# --- entry points ----------------------------------------------------------------------


def existing_rows(cur) -> int:
    cur.execute(
        "select (select count(*) from exchange.users) + (select count(*) from exchange.trades)"
        " + (select count(*) from exchange.ledger_entries)"
        " + (select count(*) from sim.generation)"
    )
    return int(cur.fetchone()[0])


def reset(cur) -> None:
    """Empty the platform and simulator tables (currencies are upserted, not emptied).

    Other tables that reference users go too where they can be emptied; the
    append-only transition log cannot, so users it still references stay and the
    reset is refused with a one-line error (a fresh database is the way then).
    """
    emptied = [t for t in PLATFORM_TABLES if t not in ("exchange.users", "exchange.currencies")]
    cur.execute("truncate " + ", ".join(emptied + list(SIM_TABLES)) + " restart identity")
    cur.execute(
        """select distinct conrelid::regclass::text from pg_constraint
           where contype = 'f' and confrelid = 'exchange.users'::regclass"""
    )
    for (table,) in sorted(cur.fetchall()):
        if table in PLATFORM_TABLES:
            continue
        cur.execute("savepoint reset_referencing")
        try:
            cur.execute(f"truncate {table}")  # a name from the catalog, quoted by regclass
        except psycopg2.Error:
            cur.execute("rollback to savepoint reset_referencing")
        else:
            cur.execute("release savepoint reset_referencing")
    try:
        cur.execute("delete from exchange.users")
    except psycopg2.errors.ForeignKeyViolation:
        raise InputError(
            "--reset cannot remove users that the append-only account_state_transitions "
            "log references; generate into a fresh database"
        ) from None


def _bulk_mode(cur) -> bool:
    """Skip per-row trigger work (foreign-key checks, the per-statement journal check)
    for this transaction, as a restore does, where the role allows it.

    Every reference and every journal balances by construction (model.py); checked per
    row, foreign keys alone cost most of the load time of a million trades.
    """
    cur.execute("select rolsuper from pg_roles where rolname = current_user")
    if not cur.fetchone()[0]:
        return False
    cur.execute("set local session_replication_role = replica")
    return True


@contextlib.contextmanager
def _indexes_rebuilt_after(cur, tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the secondary indexes of empty tables, load, then build them again.

    One sorted build per index is many times faster than maintaining it row by row
    over millions of rows. Runs inside the load's transaction, so on any error the
    indexes are simply still there; constraint indexes (primary keys) stay.
    """
    cur.execute(
        """select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
           from pg_index i
           where i.indrelid = any(%s::regclass[])
             and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
           order by 1""",
        (list(tables),),
    )
    indexes = cur.fetchall()
    for name, _ in indexes:
        cur.execute(f"drop index {name}")
    yield  # on an error the transaction rolls back and the indexes were never gone
    cur.execute("set local maintenance_work_mem = '1GB'")
    for name, definition in indexes:
        started = time.perf_counter()
        cur.execute(definition)
        log.info("index %s rebuilt in %.1fs", name, time.perf_counter() - started)


def load(conn, ex: Exchange, opts: Options) -> dict[str, int]:
    """COPY everything into the (empty) tables; returns row counts per table."""
    dates = [d.isoformat() for d in ex.dates]
    counts: dict[str, int] = {}

    def copy(name: str, expected: int, table: str, columns: str, chunks, binary=False):
        copied = _copy(cur, table, columns, chunks, binary)
        if copied != expected:  # a short COPY would be a silent partial exchange
            raise AssertionError(f"copied {copied} rows into {table}, expected {expected}")
        counts[name] = counts.get(name, 0) + copied

    with conn.cursor() as cur:
        bulk = _bulk_mode(cur)
        cur.executemany(
            """insert into exchange.currencies (currency, decimals, custody_tolerance)
               values (%s, %s, %s)
               on conflict (currency) do update
               set decimals = excluded.decimals, custody_tolerance = excluded.custody_tolerance""",
            [(c.code, c.decimals, c.custody_tolerance) for c in spec.CURRENCIES],
        )
        counts["currencies"] = len(spec.CURRENCIES)
        copy(
            "users",
            len(ex.user_status),
            "exchange.users",
            "user_id, status, created_at",
            _users(ex),
        )
        copy(
            "accounts",
            len(ex.account_key),
            "exchange.accounts",
            "user_id, currency, created_at",
            _accounts(ex),
        )
        ledger_cols = (
            "journal_id, user_id, account, currency, amount, reference_type, reference_id,"
            " reason, business_date, effective_at, created_by"
        )
        with _indexes_rebuilt_after(cur, ("exchange.trades", "exchange.ledger_entries")):
            copy(
                "trades",
                len(ex.trade_us),
                "exchange.trades",
                "trade_id, executed_at, base, quote, price, qty, maker_user_id, taker_user_id,"
                " taker_side, maker_fee, taker_fee, fee_currency",
                _trades(ex),
            )
            copy(
                "ledger_entries",
                2 * len(ex.funding_us),
                "exchange.ledger_entries",
                ledger_cols,
                _funding_legs(ex, opts.seed, dates),
            )
            copy(
                "ledger_entries",
                4 * len(ex.trade_us),
                "exchange.ledger_entries",
                ledger_cols,
                _trade_legs(ex, opts.seed),
                binary=True,
            )
        copy(
            "mark_prices",
            len(ex.mark_us),
            "exchange.mark_prices",
            "currency, price, as_of",
            _marks(ex),
        )
        copy(
            "staking_positions",
            len(ex.position_units),
            "exchange.staking_positions",
            "position_id, user_id, amount, staked_at, unstaked_at",
            _positions(ex),
        )
        copy(
            "revenue_router",
            len(dates),
            "exchange.revenue_router",
            "business_date, staking_share, status",
            ["".join(f"{d}\t{spec.STAKING_SHARE}\topen\n" for d in dates)],
        )
        wallets = [
            f"{code}\t{code.lower()}\t{wallet_id}\n"
            for code, ws in ex.wallets.items()
            for wallet_id, _ in ws
        ]
        copy(
            "custody_wallets",
            len(wallets),
            "exchange.custody_wallets",
            "currency, coin, wallet_id",
            ["".join(wallets)],
        )

        cur.execute(
            """insert into sim.generation
               (generation_id, seed, start_date, last_date, users, trades_per_day, cutover)
               values (1, %s, %s, %s, %s, %s, %s)""",
            (
                opts.seed,
                ex.dates[0],
                ex.dates[-1],
                opts.users,
                opts.trades_per_day,
                str(opts.cutover),
            ),
        )
        snapshots = [
            f"{dates[d]}\t{np.datetime_as_string(np.datetime64(int(ex.day_end_us[d]), 'us'))}Z"
            f"\t{int(ex.sequence[d])}\n"
            for d in ex.registry_days
        ]
        copy(
            "sim.me_snapshots",
            len(snapshots),
            "sim.me_snapshots",
            "business_date, as_of, sequence",
            ["".join(snapshots)],
        )
        copy(
            "sim.me_registry",
            len(ex.account_key) * len(ex.registry_days),
            "sim.me_registry",
            "business_date, user_id, currency, total, locked, available",
            _registry(ex, dates),
        )
        copy(
            "sim.custody_wallet_balances",
            len(ex.dates) * len(wallets),
            "sim.custody_wallet_balances",
            "business_date, currency, coin, wallet_id, wallet_no, balance_units",
            _wallet_rows(ex, opts, dates),
        )
        staked = onchain_units(ex, opts)
        copy(
            "sim.onchain_staked",
            len(dates),
            "sim.onchain_staked",
            "business_date, total_units",
            ["".join(f"{dates[d]}\t{u}\n" for d, u in enumerate(staked))],
        )
        if bulk:
            cur.execute("set local session_replication_role = default")
        # Fresh statistics for whatever reads the exchange next (the close, the
        # simulators): without them the planner takes million-row tables for empty.
        cur.execute("analyze " + ", ".join((*PLATFORM_TABLES, *SIM_TABLES)))
    return counts


def registry_dates(ex: Exchange) -> list[date]:
    return [ex.dates[d] for d in ex.registry_days]


__all__ = ["N_CUR", "load", "reset", "existing_rows", "registry_dates"]
