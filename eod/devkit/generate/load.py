"""Writing a generated exchange: every table by streamed COPY, in one transaction.

The rows are the platform's (platform_rows) and the simulators' (sim_rows), each
table a `TableSpec` that pgcopy runs; this module empties, checks and fills the
database around them.
"""

from __future__ import annotations

from datetime import date

import psycopg2
import psycopg2.errors

from eod.devkit.generate import pgcopy, platform_rows, sim_rows
from eod.devkit.generate.model import N_CUR, Exchange, Options
from eod.devkit.generate.platform_rows import PLATFORM_TABLES, journal_prefix
from eod.devkit.generate.sim_rows import SIM_TABLES, custody_units, onchain_units
from eod.errors import InputError

# Every COPY of a load, in order.
TABLES = (*platform_rows.TABLES, *sim_rows.TABLES)


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


def load(conn, ex: Exchange, opts: Options) -> dict[str, int]:
    """COPY everything into the (empty) tables; returns row counts per table."""
    dates = [d.isoformat() for d in ex.dates]
    with conn.cursor() as cur:
        with pgcopy.bulk_mode(cur):
            counts = {"currencies": platform_rows.upsert_currencies(cur)}
            with pgcopy.indexes_rebuilt_after(cur, platform_rows.INDEXES_REBUILT):
                counts |= pgcopy.copy_tables(cur, TABLES, ex, opts, dates)
            sim_rows.insert_generation(cur, ex, opts)
        # Fresh statistics for whatever reads the exchange next (the close, the
        # simulators): without them the planner takes million-row tables for empty.
        cur.execute("analyze " + ", ".join((*PLATFORM_TABLES, *SIM_TABLES)))
    return counts


def registry_dates(ex: Exchange) -> list[date]:
    return [ex.dates[d] for d in ex.registry_days]


__all__ = [
    "N_CUR",
    "PLATFORM_TABLES",
    "SIM_TABLES",
    "custody_units",
    "existing_rows",
    "journal_prefix",
    "load",
    "onchain_units",
    "registry_dates",
    "reset",
]
