"""The matching engine's registry snapshot as NDJSON lines (CONTRACT section 5).

Shared by the HTTP endpoint and the `file://` export. Rows come from a server-side
cursor, so a snapshot of millions of accounts is never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

from eod.business_date import Cutover
from eod.devkit.simulators.state import ENGINE_CREDITED, NotGenerated

FETCH = 5_000
UNKNOWN_USER_ID = 9_999_999_999  # a user no generated exchange has
LONG_LINE_BYTES = 40 << 20

# The stored registry plus what the engine was credited since (staking payouts and
# admin adjustments posted before the snapshot instant); users whose open orders were
# cancelled on an account event show nothing locked.
# Ordered by user and currency code byte by byte: the same order every time, without
# the cost of the locale's collation on millions of rows.
# The credits are summed first into a temporary table (`_credited`): the snapshot's
# query then reads local tables only, so Postgres streams its millions of rows even
# where the ledger is distributed (Citus would first gather them all).
_CREDITED_SQL = """
create temporary table snapshot_credited on commit drop as
select user_id, currency, sum(amount) as amount
from exchange.ledger_entries
where account = 'user'
  and reference_type = any(%(credited)s)
  and effective_at < %(as_of)s
group by user_id, currency
"""

_SNAPSHOT_SQL = """
with credited as (
    select user_id, currency, amount from pg_temp.snapshot_credited
),
registry as (
    select user_id, currency, total, locked
    from sim.me_registry
    where business_date = %(business_date)s
),
merged as (
    select
        coalesce(r.user_id, c.user_id) as user_id,
        coalesce(r.currency, c.currency) as currency,
        coalesce(r.total, 0) + coalesce(c.amount, 0) as total,
        coalesce(r.locked, 0) as locked
    from registry as r
    full join credited as c on r.user_id = c.user_id and r.currency = c.currency
)
select
    m.user_id,
    m.currency,
    trim_scale(m.total)::text,
    trim_scale(case when x.user_id is null then m.locked else 0 end)::text,
    trim_scale(m.total - case when x.user_id is null then m.locked else 0 end)::text
from merged as m
left join sim.me_cancelled_orders as x on m.user_id = x.user_id
order by m.user_id, m.currency collate "C"
"""


class BadAsOf(ValueError):
    """as_of is not an instant that ends a business date."""


def iso(instant: datetime) -> str:
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def resolve_as_of(text: str | None, cutover: Cutover) -> tuple[date, datetime]:
    """The business date an as_of ends, or BadAsOf saying why it is not one."""
    if not text:
        raise BadAsOf("as_of is required (an ISO-8601 instant that ends a business date)")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise BadAsOf(f"as_of is not an ISO-8601 instant: {text!r}") from None
    if instant.tzinfo is None:
        raise BadAsOf(f"as_of needs a time zone or offset: {text!r}")
    business_date = cutover.business_date_of(instant - timedelta(microseconds=1))
    if cutover.window(business_date)[1] != instant:
        raise BadAsOf(f"as_of {text} does not end a business date (cutover {cutover})")
    return business_date, instant


def snapshot_header(conn, business_date: date) -> dict:
    with conn.cursor() as cur:
        cur.execute(
            "select as_of, sequence from sim.me_snapshots where business_date = %s",
            (business_date,),
        )
        row = cur.fetchone()
    if row is None:
        raise NotGenerated(f"no registry was generated for business date {business_date}")
    return {"as_of": iso(row[0]), "sequence": row[1]}


def _line(user_id: int, currency: str, total: str, locked: str, available: str) -> str:
    return (
        f'{{"user_id": {user_id}, "currency": {json.dumps(currency)}, "total": "{total}", '
        f'"locked": "{locked}", "available": "{available}"}}\n'
    )


def _credited(conn, params: dict) -> None:
    """What the engine was credited since the registry, in this transaction's
    snapshot_credited."""
    with conn.cursor() as cur:
        cur.execute("drop table if exists pg_temp.snapshot_credited")
        cur.execute(_CREDITED_SQL, params)


def snapshot_lines(
    conn, business_date: date, as_of: datetime, fault: str | None = None
) -> Iterator[str]:
    """The header line, then one line per (user, currency); `fault` spoils one row."""
    header = snapshot_header(conn, business_date)
    yield json.dumps(header) + "\n"
    params = {"credited": list(ENGINE_CREDITED), "as_of": as_of, "business_date": business_date}
    _credited(conn, params)
    with conn.cursor(name="registry_snapshot") as cur:
        cur.itersize = FETCH
        cur.execute(_SNAPSHOT_SQL, params)
        first = True
        for row in cur:
            if first and fault:
                first = False
                yield from _spoiled(row, fault)
                continue
            first = False
            yield _line(*row)


# The same lines as `_line`, formatted by Postgres and sent with COPY: the registry's
# millions of rows then cross Python as bytes, never as tuples and strings. The only
# character COPY's text format escapes in these lines is a backslash (a JSON escape
# in a currency code): JSON text never holds a raw tab, newline or carriage return.
_LINES_SQL = f"""
copy (
    select format(
        '{{"user_id": %%s, "currency": %%s, "total": "%%s", "locked": "%%s", "available": "%%s"}}',
        s.user_id, to_json(s.currency), s.total, s.locked, s.available
    )
    from ({_SNAPSHOT_SQL}) as s (user_id, currency, total, locked, available)
) to stdout
"""


class _Lines:
    """COPY's output, one line per write, gathered into blocks of about `size` bytes."""

    def __init__(self, sink: Callable[[bytes], None], size: int) -> None:
        self._sink = sink
        self._size = size
        self._parts: list[bytes] = []
        self._length = 0

    def write(self, data: bytes) -> None:
        self._parts.append(data)
        self._length += len(data)
        if self._length >= self._size:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            block = b"".join(self._parts)
            self._parts, self._length = [], 0
            self._sink(block.replace(b"\\\\", b"\\") if b"\\" in block else block)


def snapshot_blocks(
    conn, business_date: date, as_of: datetime, sink: Callable[[bytes], None], size: int
) -> None:
    """The snapshot's balance lines (after the header), in blocks of about `size` bytes."""
    params = {"credited": list(ENGINE_CREDITED), "as_of": as_of, "business_date": business_date}
    _credited(conn, params)
    lines = _Lines(sink, size)
    with conn.cursor() as cur:
        # the sort of millions of rows stays in memory
        cur.execute("set local work_mem = '512MB'")
        cur.copy_expert(cur.mogrify(_LINES_SQL, params).decode(), lines)
    lines.flush()


def _spoiled(row: tuple, fault: str) -> Iterator[str]:
    user_id, currency, total, locked, available = row
    if fault == "malformed":
        yield f'{{"user_id": {user_id}, "currency": "{currency}", "total": \n'
    elif fault == "negative":
        yield _line(user_id, currency, "-1", "0", "-1")
    elif fault == "duplicate":
        yield _line(*row)
        yield _line(*row)
    elif fault == "unknown-currency":
        yield _line(*row)
        yield _line(user_id, "ZZZ", "1", "0", "1")
    elif fault == "unknown-user":
        yield _line(*row)
        yield _line(UNKNOWN_USER_ID, currency, "1", "0", "1")
    elif fault == "long-line":
        # a line of LONG_LINE_BYTES, in pieces: only its first bytes need reading
        yield f'{{"user_id": {user_id}, "currency": "{currency}", "note": "'
        piece = "x" * (1 << 20)
        for _ in range(LONG_LINE_BYTES >> 20):
            yield piece
        yield '"}\n'
        yield _line(*row)
    else:  # pragma: no cover - the option is checked where it is set
        raise ValueError(f"unknown engine fault {fault!r}")
