"""The synthetic exchange behind the demo and the tests (`eod generate`).

`model` draws it as integer arrays from a seed; `load` COPYs it into the platform
tables (`platform_rows`) and into the dev kit's `sim` schema (`sim_rows`), which the
simulators of the matching engine, custody and the staking chain serve from and
which `generate` creates first where it is missing (eod.devkit.schema).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eod.citus.layout import one_connection_per_node
from eod.db import transaction
from eod.devkit.generate import load, model
from eod.devkit.generate.model import Exchange, Options
from eod.devkit.schema import ensure_schema
from eod.errors import InputError


@dataclass
class Result:
    exchange: Exchange
    counts: dict[str, int]
    generate_s: float
    load_s: float


def generate(database_url: str, opts: Options, reset: bool = False) -> Result:
    """Generate and load in one transaction: on any error nothing is written."""
    started = time.perf_counter()
    ex = model.generate(opts)
    custody = load.custody_units(ex, opts)
    negative = sorted({code for (_, code), units in custody.items() if units < 0})
    if negative:
        raise InputError(f"--custody-drift makes the custody balance of {negative[0]} negative")
    if min(load.onchain_units(ex, opts)) < 0:
        raise InputError("--staking-drift makes the on-chain staked total negative")
    generated = time.perf_counter()
    with transaction(database_url, application_name="eod-generate") as conn:
        with conn.cursor() as cur:
            one_connection_per_node(cur)  # on Citus: the load empties, then fills
            ensure_schema(cur)
            if reset:
                load.reset(cur)
            elif (rows := load.existing_rows(cur)) > 0:
                raise InputError(
                    f"the database already holds an exchange ({rows} rows); "
                    "add --reset to replace it"
                )
        counts = load.load(conn, ex, opts)
    return Result(ex, counts, generated - started, time.perf_counter() - generated)


__all__ = ["Options", "Result", "generate"]
