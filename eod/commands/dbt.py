"""`eod dbt <args>`: dbt on the configured (or embedded) database.

When `--vars` name a business date but not the first date of the close chain, the
first date is read from the database and added (`first_business_date`, see
eod.dbt.with_first_business_date), so `eod dbt build --vars '{"business_date": "D"}'`
builds D as the close would: carried from D-1, or as the chain's first date.

A command that builds models (`build`, `run`, `retry`) may build the balance
snapshots, whose leaf hashes need the proof-of-reserves key: the key is stored from
EOD_POR_SECRET first (eod.por_key, nothing else is written), so a data engineer can
rebuild a date on a warehouse that no close has keyed. Without EOD_POR_SECRET such a
command is refused before dbt starts.
"""

from __future__ import annotations

import argparse

from eod import dbt
from eod.context import Context
from eod.db import transaction
from eod.errors import ConfigError
from eod.por_key import store_por_key

# dbt's subcommands, to find which one the arguments name (global flags may come first)
_SUBCOMMANDS = frozenset(
    [
        "build",
        "run",
        "retry",
        "test",
        "seed",
        "snapshot",
        "compile",
        "parse",
        "ls",
        "list",
        "docs",
        "debug",
        "deps",
        "clean",
        "init",
        "source",
        "run-operation",
        "show",
        "clone",
    ]
)
BUILDS_MODELS = frozenset({"build", "run", "retry"})


def register(subparsers) -> None:
    parser = subparsers.add_parser("dbt", help="run dbt on the configured database", add_help=False)
    parser.add_argument("dbt_args", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=_run)


def subcommand(args: list[str]) -> str | None:
    """The dbt subcommand the arguments name, if any."""
    return next((arg for arg in args if arg in _SUBCOMMANDS), None)


def _run(args) -> int:
    dbt_args = args.dbt_args or ["--help"]
    ctx = Context()
    command = subcommand(dbt_args)
    if command in BUILDS_MODELS and "--help" not in dbt_args and "-h" not in dbt_args:
        if not ctx.settings.por_secret:
            raise ConfigError(
                f"EOD_POR_SECRET is not set: dbt {command} computes the proof-of-reserves"
                " leaf hashes with it; set it to the close's key"
            )
        with transaction(ctx.database_url) as conn:
            store_por_key(conn, ctx.settings.por_secret)
    return 0 if dbt.invoke(dbt_args, ctx.database_url) else 1
