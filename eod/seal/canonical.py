"""The canonical text a seal's digests are taken over (README "Sealed closes").

A digest is the lowercase hex SHA-256 of UTF-8 text made of sections, in the order
listed here. A section with no rows for the date adds nothing (so a mart added later
leaves earlier seals as they were); otherwise it is a header line, `# ` then the
relation and its columns joined by tabs, followed by the date's rows in the order of
the section's key (numbers and dates by value, text by its UTF-8 bytes, uuids as
text), one line each, written as Postgres's COPY text format writes them with
DateStyle ISO and TimeZone UTC: columns in the listed order separated by a tab, a line
feed after each line, and each value as
- null: `\\N`;
- a number: its decimal value with no exponent, no trailing fractional zeros and no
  trailing point (1.500 -> 1.5, 100.00 -> 100, 0.000 -> 0);
- a date: YYYY-MM-DD; an instant: YYYY-MM-DD HH:MM:SS in UTC, then `.` and the
  microseconds without their trailing zeros when there are any, then `+00`;
- a boolean: t or f;
- text (uuid and enum values as their text): as is, except that `\\` is written `\\\\`,
  and backspace, tab, line feed, vertical tab, form feed and carriage return are
  written `\\b`, `\\t`, `\\n`, `\\v`, `\\f`, `\\r`.

Postgres writes the lines (COPY streams a date's millions of snapshot rows without a
row reaching Python as an object) and Python hashes the bytes. The tests recompute
every digest from the raw rows by these rules, in Python only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from psycopg2 import sql

ZERO_HASH = "0" * 64


@dataclass(frozen=True)
class Section:
    """The rows of one relation that belong to a date, the columns sealed and the key
    that orders them (unique: a test checks it is the model's tested unique key)."""

    name: str  # the header's relation name
    columns: tuple[str, ...]
    key: tuple[str, ...]
    # FROM ... WHERE of the date's rows, with the date as %(day)s
    rows_of_day: str = ""

    @property
    def source(self) -> str:
        return self.rows_of_day or f"{self.name} where business_date = %(day)s"


def _by_date(name: str, *columns: str, key: tuple[str, ...]) -> Section:
    return Section(name, ("business_date", *columns), ("business_date", *key))


# Every mart the close builds, by name, with its documented columns and its tested
# unique key (a test keeps this list and models/marts/ in step). The proof of reserves
# has a digest of its own.
_USER_CURRENCY = ("user_id", "currency")
_JOURNAL_LEGS = ("journal_id", "reference_id", "user_id", "account", "currency", "amount")
MARTS: tuple[Section, ...] = (
    _by_date(
        "marts.fct_daily_fees",
        *_USER_CURRENCY,
        "maker_fees",
        "taker_fees",
        "total_fees",
        "trade_count",
        "total_fees_usdt",
        key=_USER_CURRENCY,
    ),
    _by_date(
        "marts.fct_daily_pnl",
        *_USER_CURRENCY,
        "realised_pnl",
        "unrealised_pnl",
        "position_qty",
        "avg_cost",
        "mark_price",
        key=_USER_CURRENCY,
    ),
    _by_date("marts.fct_fee_journal", *_JOURNAL_LEGS, key=("journal_id", "account")),
    _by_date(
        "marts.fct_fee_tiers",
        "user_id",
        "volume_1d",
        "volume_30d",
        "tier",
        "maker_fee_bps",
        "taker_fee_bps",
        "effective_date",
        key=("user_id",),
    ),
    _by_date(
        "marts.fct_recon_breaks_daily",
        "check_name",
        "open_breaks",
        "new_breaks",
        "resolved_breaks",
        "oldest_open_days",
        key=("check_name",),
    ),
    _by_date("marts.fct_staking_payout_journal", *_JOURNAL_LEGS, key=("journal_id", "account")),
    _by_date(
        "marts.fct_staking_payouts", "user_id", "stake_amount", "payout_qtra", key=("user_id",)
    ),
    _by_date(
        "marts.fct_staking_pool",
        "fee_revenue_usdt",
        "staking_share",
        "router_status",
        "pool_qtra",
        "staker_count",
        "gated",
        key=(),
    ),
    _by_date(
        "marts.late_ledger_entries",
        "entry_id",
        "journal_id",
        "user_id",
        "currency",
        "amount",
        "entry_business_date",
        key=("entry_id",),
    ),
    _by_date(
        "marts.recon_custody",
        "currency",
        "liabilities",
        "custody_balance",
        "difference",
        "tolerance",
        "is_break",
        key=("currency",),
    ),
    _by_date(
        "marts.recon_me_ledger",
        *_USER_CURRENCY,
        "me_total",
        "ledger_total",
        "difference",
        key=_USER_CURRENCY,
    ),
    _by_date("marts.recon_staking", "db_total", "onchain_total", "difference", "is_break", key=()),
    _by_date(
        "marts.recon_summary",
        "check_name",
        "items_checked",
        "breaks",
        "status",
        key=("check_name",),
    ),
    _by_date(
        "marts.user_balance_snapshots",
        *_USER_CURRENCY,
        "total",
        "locked",
        "available",
        "leaf_hash",
        key=_USER_CURRENCY,
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
        key=("currency",),
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


# The ledger entries the close of D counted, with the entry's own date as business_date
# and `counted_as`: read as the ledger models read them (macros/ledger_entries_counted),
# by the rules of eod.is_counted_on_time and eod.ledger_entries_late.
_ENTRY_COLUMNS = ", ".join(f"{{0}}.{c}" for c in LEDGER_COLUMNS)
COUNTED_ENTRIES = (
    "(select "
    + _ENTRY_COLUMNS.format("e")
    + ", 'on_time' as counted_as from exchange.ledger_entries as e"
    " where e.business_date = %(day)s::date and eod.is_counted_on_time("
    "e.reference_type, e.tx_id, (select eod.close_snapshot(%(day)s::date)))"
    " union all select "
    + _ENTRY_COLUMNS.format("l")
    + ", 'late' from eod.ledger_entries_late(%(day)s::date) as l) as counted"
)


def counted_entries() -> Section:
    """The ledger entries the close of D counted: those dated D its snapshot saw (and
    D's fee journal), then the late entries it found, dated before D. Their own
    columns, so `business_date` is the entry's date: a late entry's is before D.
    Ordered by entry_id, on time and late alike. An entry that arrives after D's close
    is the next close's late entry: D's digest never changes."""
    return Section("exchange.ledger_entries", LEDGER_COLUMNS, ("entry_id",), COUNTED_ENTRIES)


LEDGER: tuple[Section, ...] = (counted_entries(),)

# How Postgres writes the values (COPY text format); set for the digest's transaction
_SESSION = (
    "set local datestyle to 'ISO, YMD'",
    "set local timezone to 'UTC'",
    # a digest is one streamed scan per section: compiling it costs more than it saves
    "set local jit to off",
    # a date's millions of snapshot rows sorted in memory, not spilled to disk
    "set local work_mem to '256MB'",
)


class _Hasher:
    """The file COPY writes into: every chunk goes to the hash, none is kept."""

    def __init__(self, sha) -> None:
        self.sha = sha
        self.empty = True

    def write(self, data: bytes | str) -> int:
        chunk = data.encode() if isinstance(data, str) else data
        self.empty = self.empty and not chunk
        self.sha.update(chunk)
        return len(chunk)


def _exists(cur, section: Section) -> bool:
    if section.rows_of_day:
        return True
    cur.execute("select to_regclass(%s) is not null", (section.name,))
    return cur.fetchone()[0]


def _copy_query(cur, section: Section, business_date: date) -> str:
    """COPY of the date's rows, numbers with their trailing zeros trimmed, in key order."""
    source = sql.SQL(section.source)
    names = [sql.Identifier(c) for c in section.columns]
    cur.execute(
        sql.SQL("select {} from {} limit 0").format(sql.SQL(", ").join(names), source),
        {"day": business_date},
    )
    oids = [d.type_code for d in cur.description]
    cur.execute("select oid, typname, typcategory from pg_type where oid = any(%s)", (oids,))
    types = {oid: (name, category) for oid, name, category in cur.fetchall()}
    kinds = dict(zip(section.columns, (types[oid] for oid in oids), strict=True))
    # numeric keeps its column's scale when written: trim it (integers need nothing)
    values = [
        sql.SQL("trim_scale({})").format(name) if kinds[column][0] == "numeric" else name
        for column, name in zip(section.columns, names, strict=True)
    ]
    # text keys by their bytes, whatever the database's collation
    order = [
        sql.SQL('{} collate "C"').format(sql.Identifier(c))
        if kinds[c][1] == "S"
        else sql.Identifier(c)
        for c in section.key
    ]
    query = sql.SQL("copy (select {} from {}{}) to stdout").format(
        sql.SQL(", ").join(values),
        source,
        sql.SQL(" order by {}").format(sql.SQL(", ").join(order)) if order else sql.SQL(""),
    )
    return cur.mogrify(query, {"day": business_date}).decode()


def digest(cur, sections: tuple[Section, ...], business_date: date) -> str:
    """SHA-256 of the date's canonical text over `sections` (module docstring)."""
    if cur.connection.encoding not in ("UTF8", "UNICODE"):
        raise ValueError(f"a seal digest needs a UTF8 connection, not {cur.connection.encoding}")
    for statement in _SESSION:
        cur.execute(statement)
    sha = hashlib.sha256()
    for section in sections:
        if not _exists(cur, section):
            continue
        query = _copy_query(cur, section, business_date)
        header = "\t".join((f"# {section.name}", *section.columns)) + "\n"
        # the header counts only when rows follow it: stream into a copy of the hash
        # that has it, and keep that copy if COPY wrote anything
        with_header = sha.copy()
        with_header.update(header.encode())
        sink = _Hasher(with_header)
        cur.copy_expert(query, sink, size=1 << 20)
        if not sink.empty:
            sha = with_header
    return sha.hexdigest()


def seal_hash(business_date: date, prev: str, por: str, marts: str, ledger: str) -> str:
    """SHA256("seal|D|prev_seal_hash|por_digest|marts_digest|ledger_digest")."""
    text = f"seal|{business_date.isoformat()}|{prev}|{por}|{marts}|{ledger}"
    return hashlib.sha256(text.encode()).hexdigest()
