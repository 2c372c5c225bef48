"""What the simulators serve of a generated exchange (the dev kit's schema `sim`).

The engine's registry and its snapshot instants, custody per wallet and the on-chain
stake, each consistent with the platform rows (and spoiled exactly as the fault
options say), plus the one `sim.generation` row the simulators read the cutover and
the generated dates from.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from eod.devkit.generate import spec
from eod.devkit.generate.model import Exchange, Options
from eod.devkit.generate.pgcopy import TableSpec
from eod.devkit.generate.platform_rows import wallet_count
from eod.devkit.generate.text import CODES, split

# Every table of the dev kit's schema (a reset empties them, the load analyzes them).
SIM_TABLES = (
    "sim.generation",
    "sim.me_snapshots",
    "sim.me_registry",
    "sim.me_cancelled_orders",
    "sim.custody_wallet_balances",
    "sim.onchain_staked",
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


def onchain_units(ex: Exchange, opts: Options) -> list[int]:
    """The staked QTRA per day in base units, with the staking drift on the fault day."""
    qtra = spec.CURRENCIES[spec.CURRENCY_INDEX[spec.STAKING_CURRENCY]]
    out = [int(u) * qtra.unit_to_base for u in ex.onchain_units.tolist()]
    out[opts.fault_day] += opts.staking_drift
    return out


def insert_generation(cur, ex: Exchange, opts: Options) -> None:
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


def _snapshots(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    yield "".join(
        f"{dates[d]}\t{np.datetime_as_string(np.datetime64(int(ex.day_end_us[d]), 'us'))}Z"
        f"\t{int(ex.sequence[d])}\n"
        for d in ex.registry_days
    )


def _registry(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    users = ex.account_user.tolist()
    cur = ex.account_currency
    codes = [CODES[c] for c in cur.tolist()]
    for col, day in enumerate(ex.registry_days):
        total = ex.registry_total[:, col]
        locked = ex.registry_locked[:, col]
        tw, tf = split(total, cur)
        lw, lf = split(locked, cur)
        aw, af = split(total - locked, cur)
        d = dates[day]
        rows = zip(users, codes, tw, tf, lw, lf, aw, af, strict=True)
        yield "".join(
            f"{d}\t{u}\t{c}\t{a}.{b:09d}\t{e}.{f:09d}\t{g}.{h:09d}\n"
            for u, c, a, b, e, f, g, h in rows
        )


def _wallet_balances(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
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


def _onchain_staked(ex: Exchange, opts: Options, dates: list[str]) -> Iterator[str]:
    yield "".join(f"{dates[d]}\t{u}\n" for d, u in enumerate(onchain_units(ex, opts)))


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "sim.me_snapshots",
        "sim.me_snapshots",
        "business_date, as_of, sequence",
        _snapshots,
        lambda ex, opts, dates: len(ex.registry_days),
    ),
    TableSpec(
        "sim.me_registry",
        "sim.me_registry",
        "business_date, user_id, currency, total, locked, available",
        _registry,
        lambda ex, opts, dates: len(ex.account_key) * len(ex.registry_days),
    ),
    TableSpec(
        "sim.custody_wallet_balances",
        "sim.custody_wallet_balances",
        "business_date, currency, coin, wallet_id, wallet_no, balance_units",
        _wallet_balances,
        lambda ex, opts, dates: len(ex.dates) * wallet_count(ex),
    ),
    TableSpec(
        "sim.onchain_staked",
        "sim.onchain_staked",
        "business_date, total_units",
        _onchain_staked,
        lambda ex, opts, dates: len(dates),
    ),
)
