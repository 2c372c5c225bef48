"""COPY plumbing of the generator's load: streamed COPY, table specs, bulk-load helpers.

Rows are formatted from the integer arrays in chunks and fed to `copy_expert` as they
are produced, so Postgres parses one chunk while the next is formatted and no table
is ever held whole as text. Each table a load fills is a `TableSpec`; `copy_tables`
runs them in order and checks every COPY loaded exactly the rows it should.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from eod.citus.layout import citus_enabled
from eod.devkit.generate.model import Exchange, Options

log = logging.getLogger(__name__)

CHUNK = 100_000  # rows formatted per chunk


def chunks(n: int) -> Iterator[slice]:
    """Slices of CHUNK rows covering range(n)."""
    for lo in range(0, n, CHUNK):
        yield slice(lo, min(n, lo + CHUNK))


class Stream(io.RawIOBase):
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


def copy_rows(
    cur, table: str, columns: str, chunks: Iterable[str | bytes], binary: bool = False
) -> int:
    """COPY the streamed chunks into table(columns); returns the rows copied."""
    started = time.perf_counter()
    options = " with (format binary)" if binary else ""
    cur.copy_expert(f"copy {table} ({columns}) from stdin{options}", Stream(chunks), size=1 << 20)
    log.info("copy %s: %d rows in %.1fs", table, cur.rowcount, time.perf_counter() - started)
    return cur.rowcount


# What a table spec computes from: the exchange, the options and the ISO business dates.
Rows = Callable[[Exchange, Options, list[str]], Iterable[str | bytes]]
Count = Callable[[Exchange, Options, list[str]], int]


@dataclass(frozen=True)
class TableSpec:
    """One COPY of generated rows: where they go, how they are made, how many."""

    name: str  # the key of the row count it adds to (several COPYs may share one)
    table: str
    columns: str
    rows: Rows  # chunks of text rows, or binary COPY data (header to trailer)
    expected: Count
    binary: bool = False


def copy_tables(
    cur, specs: Sequence[TableSpec], ex: Exchange, opts: Options, dates: list[str]
) -> dict[str, int]:
    """Run the COPYs in order; the rows copied per spec name."""
    counts: dict[str, int] = {}
    for each in specs:
        expected = each.expected(ex, opts, dates)
        copied = copy_rows(cur, each.table, each.columns, each.rows(ex, opts, dates), each.binary)
        if copied != expected:  # a short COPY would be a silent partial exchange
            raise AssertionError(f"copied {copied} rows into {each.table}, expected {expected}")
        counts[each.name] = counts.get(each.name, 0) + copied
    return counts


@contextlib.contextmanager
def bulk_mode(cur) -> Iterator[bool]:
    """Skip per-row trigger work (foreign-key checks, the per-statement journal check)
    while loading in this transaction, as a restore does, where the role allows it;
    yields whether it does.

    Every reference and every journal balances by construction (model.py); checked per
    row, foreign keys alone cost most of the load time of a million trades.
    """
    cur.execute("select rolsuper from pg_roles where rolname = current_user")
    if not cur.fetchone()[0]:
        yield False
        return
    if citus_enabled(cur):
        # on Citus the rows are written by the workers' connections: the setting goes
        # to them too (SET LOCAL propagated), or every leg would be checked at commit
        cur.execute("set local citus.propagate_set_commands to 'local'")
    cur.execute("set local session_replication_role = replica")
    yield True  # on an error the transaction rolls back, and the setting with it
    cur.execute("set local session_replication_role = default")


@contextlib.contextmanager
def indexes_rebuilt_after(cur, tables: Sequence[str]) -> Iterator[None]:
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
