"""`eod dbt <args>`: dbt on the configured (or embedded) database.

When `--vars` name a business date but not the first date of the close chain, the
first date is read from the database and added (`first_business_date`, see
eod.dbt.with_first_business_date), so `eod dbt build --vars '{"business_date": "D"}'`
builds D as the close would: carried from D-1, or as the chain's first date.
"""

from __future__ import annotations

import argparse

from eod import dbt
from eod.context import Context


def register(subparsers) -> None:
    parser = subparsers.add_parser("dbt", help="run dbt on the configured database", add_help=False)
    parser.add_argument("dbt_args", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    return 0 if dbt.invoke(args.dbt_args or ["--help"], Context().database_url) else 1
