"""The canonical text a seal's digests are taken over (README "Sealed closes").

A digest is the lowercase hex SHA-256 of UTF-8 text made of sections, in the order
listed here. A section with no rows for the date contributes nothing (so a mart added
later leaves earlier seals as they were); otherwise it is a header line

    # <relation>|<column>|<column>|...

followed by one line per row, the rows sorted by their line compared byte by byte,
every line ending with a line feed. A row's line is its columns, in the listed order,
joined by `|`, each written as:
- null: `\\N`;
- a number: its decimal value with no exponent, no trailing fractional zeros and no
  trailing point (1.500 -> 1.5, 100.00 -> 100, 0.000 -> 0);
- a date: YYYY-MM-DD; an instant: YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC;
- a boolean: true or false;
- anything else (text, uuid, enum): its text, with `\\` written `\\\\`, `|` written `\\|`,
  line feed `\\n` and carriage return `\\r`.

The text of each line is produced by Postgres (so a date's millions of snapshot rows are
sorted and streamed without being parsed in Python), the hash in Python. The tests
recompute every digest from the raw rows by these rules, in Python only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from psycopg2 import sql

NULL = "\\N"
ZERO_HASH = "0" * 64
_BATCH = 50_000  # lines fetched and hashed at a time


@dataclass(frozen=True)
class Section:
    """The rows of one relation that belong to a date, and the columns sealed."""

    name: str  # the header's relation name
    columns: tuple[str, ...]
    # FROM ... WHERE of the date's rows, with the date as %(day)s
    rows_of_day: str = ""

    @property
    def source(self) -> str:
        return self.rows_of_day or f"{self.name} where business_date = %(day)s"


def _by_date(name: str, *columns: str) -> Section:
    return Section(name, ("business_date", *columns))


# Every mart the close builds, by name, with its documented columns (a test keeps this
# list and models/marts/ in step). The proof of reserves has a digest of its own.
MARTS: tuple[Section, ...] = (
    _by_date(
        "marts.fct_daily_fees",
        "user_id",
        "currency",
        "maker_fees",
        "taker_fees",
        "total_fees",
        "trade_count",
        "total_fees_usdt",
    ),
    _by_date(
        "marts.fct_daily_pnl",
        "user_id",
        "currency",
        "realised_pnl",
        "unrealised_pnl",
        "position_qty",
        "avg_cost",
        "mark_price",
    ),
    _by_date(
        "marts.fct_fee_journal",
        "journal_id",
        "reference_id",
        "user_id",
        "account",
        "currency",
        "amount",
    ),
    _by_date(
        "marts.fct_fee_tiers",
        "user_id",
        "volume_1d",
        "volume_30d",
        "tier",
        "maker_fee_bps",
        "taker_fee_bps",
        "effective_date",
    ),
    _by_date(
        "marts.fct_recon_breaks_daily",
        "check_name",
        "open_breaks",
        "new_breaks",
        "resolved_breaks",
        "oldest_open_days",
    ),
    _by_date(
        "marts.fct_staking_payout_journal",
        "journal_id",
        "reference_id",
        "user_id",
        "account",
        "currency",
        "amount",
    ),
    _by_date("marts.fct_staking_payouts", "user_id", "stake_amount", "payout_qtra"),
    _by_date(
        "marts.fct_staking_pool",
        "fee_revenue_usdt",
        "staking_share",
        "router_status",
        "pool_qtra",
        "staker_count",
        "gated",
    ),
    _by_date(
        "marts.recon_custody",
        "currency",
        "liabilities",
        "custody_balance",
        "difference",
        "tolerance",
        "is_break",
    ),
    _by_date(
        "marts.recon_me_ledger", "user_id", "currency", "me_total", "ledger_total", "difference"
    ),
    _by_date("marts.recon_staking", "db_total", "onchain_total", "difference", "is_break"),
    _by_date("marts.recon_summary", "check_name", "items_checked", "breaks", "status"),
    _by_date(
        "marts.user_balance_snapshots",
        "user_id",
        "currency",
        "total",
        "locked",
        "available",
        "leaf_hash",
    ),
)

POR: tuple[Section, ...] = (
    _by_date(
        "marts.proof_of_reserves",
        "currency",
        "root_hash",
        "root_sum",
        "leaf_count",
        "custody_balance",
        "reserve_ratio",
    ),
)

LEDGER_COLUMNS = (
    "entry_id",
    "journal_id",
    "user_id",
    "account",
    "currency",
    "amount",
    "reference_type",
    "reference_id",
    "reason",
    "business_date",
    "effective_at",
    "created_by",
)


def counted_entries() -> Section:
    """The ledger entries the close of D counted: the one place that says which.

    Today: the entries dated D (business_date = D), read through the business_date index.
    """
    return Section(
        "exchange.ledger_entries",
        LEDGER_COLUMNS,
        "exchange.ledger_entries where business_date = %(day)s",
    )


LEDGER: tuple[Section, ...] = (counted_entries(),)


# Postgres type categories (pg_type.typcategory) and how each is written
def _field(column: sql.Composable, category: str, type_name: str) -> sql.Composable:
    if category == "N":
        text = sql.SQL("trim_scale({}::numeric)::text").format(column)
    elif type_name == "date":
        text = sql.SQL("to_char({}, 'YYYY-MM-DD')").format(column)
    elif type_name == "timestamp with time zone":
        text = sql.SQL(
            """to_char({} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        ).format(column)
    elif category == "B":
        text = sql.SQL("case when {} then 'true' else 'false' end").format(column)
    elif category in ("S", "U", "E"):
        text = sql.SQL(
            r"""replace(replace(replace(replace({}::text, '\', '\\'), '|', '\|'),"""
            r""" chr(10), '\n'), chr(13), '\r')"""
        ).format(column)
    else:
        raise ValueError(f"no canonical form for a column of type {type_name}")
    return sql.SQL("coalesce({}, {})").format(text, sql.Literal(NULL))


def _exists(cur, section: Section) -> bool:
    if section.rows_of_day:
        return True
    cur.execute("select to_regclass(%s) is not null", (section.name,))
    return cur.fetchone()[0]


def _line_query(cur, section: Section, business_date: date) -> sql.Composable:
    columns = [sql.Identifier(c) for c in section.columns]
    source = sql.SQL(section.source)
    cur.execute(
        sql.SQL("select {} from {} limit 0").format(sql.SQL(", ").join(columns), source),
        {"day": business_date},
    )
    oids = [d.type_code for d in cur.description]
    cur.execute(
        "select oid, typcategory, format_type(oid, null) from pg_type where oid = any(%s)",
        (oids,),
    )
    types = {oid: (category, name) for oid, category, name in cur.fetchall()}
    fields = [_field(c, *types[oid]) for c, oid in zip(columns, oids, strict=True)]
    return sql.SQL(
        'select line from (select {} as line from {}) as lines order by line collate "C"'
    ).format(sql.SQL(" || '|' || ").join(fields), source)


def digest(cur, sections: tuple[Section, ...], business_date: date) -> str:
    """SHA-256 of the date's canonical text over `sections` (module docstring)."""
    sha = hashlib.sha256()
    conn = cur.connection
    for index, section in enumerate(sections):
        if not _exists(cur, section):
            continue
        query = _line_query(cur, section, business_date)
        header = "|".join((f"# {section.name}", *section.columns)) + "\n"
        # a named (server-side) cursor streams the lines in batches
        with conn.cursor(name=f"eod_seal_section_{index}") as lines:
            lines.execute(query, {"day": business_date})
            batch = lines.fetchmany(_BATCH)
            if batch:
                sha.update(header.encode())
            while batch:
                sha.update("".join(f"{line}\n" for (line,) in batch).encode())
                batch = lines.fetchmany(_BATCH)
    return sha.hexdigest()


def seal_hash(business_date: date, prev: str, por: str, marts: str, ledger: str) -> str:
    """SHA256("seal|D|prev_seal_hash|por_digest|marts_digest|ledger_digest")."""
    text = f"seal|{business_date.isoformat()}|{prev}|{por}|{marts}|{ledger}"
    return hashlib.sha256(text.encode()).hexdigest()
