"""Capture of the matching engine's balance registry for a business date.

The NDJSON is streamed: parsed line by line and fed to COPY into the UNLOGGED
staging table `eod.me_balances_incoming` under a fresh capture id, so memory stays
flat however many rows the registry has. In one transaction D's earlier capture in
`eod.me_balances` is replaced by the staged rows, which are validated (Great
Expectations, in Postgres) before it commits. Any failure leaves `eod.me_balances`
untouched.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from psycopg2 import errors

from eod.capture.http import open_url
from eod.capture.ndjson import CopySource, numbered_blocks, parse_header, split_header
from eod.close.leader import check_fence
from eod.config import Settings
from eod.db import session, transaction
from eod.errors import ConfigError, InputError
from eod.validation import preload, validate_registry

log = logging.getLogger(__name__)

WHAT = "matching engine"
READ_TIMEOUT_S = 120.0  # per socket read: a registry of millions of lines takes a while


def iso_instant(instant: datetime) -> str:
    """ISO-8601 in UTC with a Z, as the snapshot endpoint's as_of parameter."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def snapshot_url(me_url: str, as_of: datetime) -> str:
    return f"{me_url.rstrip('/')}/v1/registry/snapshot?as_of={quote(iso_instant(as_of))}"


def _open(me_url: str, business_date: date, as_of: datetime):
    """(binary line iterable, description) for D's registry."""
    parsed = urlparse(me_url)
    if parsed.scheme == "file":
        folder = Path(unquote(parsed.netloc + parsed.path))
        path = folder / f"{business_date.isoformat()}.ndjson"
        if not path.is_file():
            raise InputError(f"no registry file for {business_date}: {path} does not exist")
        return path.open("rb"), str(path)
    if parsed.scheme in ("http", "https"):
        url = snapshot_url(me_url, as_of)
        return open_url(url, WHAT, timeout=READ_TIMEOUT_S), url
    raise ConfigError(f"EOD_ME_URL must be http(s):// or file://, got {me_url!r}")


def previous_sequence(database_url: str, business_date: date) -> tuple[date, int] | None:
    """(date, sequence) of the latest capture before D, if any."""
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """select business_date, sequence from eod.me_balances
               where business_date = (select max(business_date) from eod.me_balances
                                      where business_date < %s)
               limit 1""",
            (business_date,),
        )
        row = cur.fetchone()
    return (row[0], row[1]) if row else None


def _stage(
    database_url: str,
    stream,
    source: str,
    capture_id: uuid.UUID,
    as_of: datetime,
    business_date: date,
):
    """Parse the header and COPY the balance lines into staging; commit; (header, rows).

    Refused before a balance line is read: a sequence below the previous capture's (the
    engine's registry never goes back). Refused after them: a registry with no balance
    (an engine that lost its state, or a stream emptied in transit, would otherwise
    freeze every user with a balance)."""
    first, blocks = split_header(numbered_blocks(stream, source, timeout=READ_TIMEOUT_S))
    if first is None:
        raise InputError(f"registry from {source} is empty (no header line)")
    header = parse_header(first, as_of)
    previous = previous_sequence(database_url, business_date)
    if previous is not None and header[1] < previous[1]:
        raise InputError(
            f"registry line 1: sequence {header[1]} is lower than {previous[1]}, the"
            f" sequence of {previous[0]}'s registry (the engine's sequence never goes back)"
        )
    copy = CopySource(blocks, capture_id)
    with session(database_url) as conn:
        with conn, conn.cursor() as cur:
            try:
                cur.copy_expert(
                    "copy eod.me_balances_incoming"
                    " (capture_id, line_no, user_id, currency, total, locked, available)"
                    " from stdin",
                    copy,
                    size=1 << 16,
                )
            except Exception:
                if copy.error is not None:
                    raise copy.error from None
                raise
        # Fresh statistics: without them the planner guesses a few thousand rows and
        # picks nested plans for validation queries over millions.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("analyze eod.me_balances_incoming")
    if copy.rows == 0:
        raise InputError(
            f"registry for {business_date} from {source} holds no balance line: an empty"
            " registry is refused"
        )
    return header, copy.rows


def _discard(database_url: str, capture_id: uuid.UUID) -> None:
    """Drop this capture's staged rows, and any a killed capture left over a day ago.

    When no other capture has rows staged, the table is truncated: deleting millions
    of rows one by one costs seconds. The lock keeps any capture from staging between
    the check and the truncation; it waits for one that is staging (its COPY holds
    the table until it commits).
    """
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute("lock table eod.me_balances_incoming in access exclusive mode")
        cur.execute(
            """select exists (select from eod.me_balances_incoming
                              where capture_id <> %s and staged_at >= now() - interval '1 day')""",
            (str(capture_id),),
        )
        if cur.fetchone()[0]:
            cur.execute(
                """delete from eod.me_balances_incoming
                   where capture_id = %s or staged_at < now() - interval '1 day'""",
                (str(capture_id),),
            )
        else:
            cur.execute("truncate eod.me_balances_incoming")


def _land_tentatively(
    cur, business_date: date, capture_id: uuid.UUID, as_of: datetime, sequence: int
) -> int | None:
    """Replace D's capture with the staged one in `cur`'s transaction, not committed:
    the rows landed, or None when the staged rows cannot land (a row twice, an amount
    out of range), which validation then names.

    A capture that lands has one row per (user, currency): eod.me_balances' primary
    key holds it once D's earlier capture is gone, so validation need not group
    millions of rows to look for duplicates.
    """
    cur.execute("delete from eod.me_balances where business_date = %s", (business_date,))
    cur.execute("savepoint land")
    try:
        cur.execute(
            """insert into eod.me_balances
                   (business_date, user_id, currency, total, locked, available, as_of, sequence)
               select %s, user_id, currency, total, locked, available, %s, %s
               from eod.me_balances_incoming
               where capture_id = %s""",
            (business_date, as_of, sequence, str(capture_id)),
        )
    except (errors.UniqueViolation, errors.NumericValueOutOfRange):
        cur.execute("rollback to savepoint land")
        return None
    return cur.rowcount


def capture_registry(
    database_url: str, business_date: date, settings: Settings, fencing_token: int | None = None
) -> dict[str, Any]:
    """Capture the registry at the end of D into eod.me_balances; returns a summary.
    With the close's fencing token, the landing transaction checks it first."""
    if not settings.me_url:
        raise ConfigError("EOD_ME_URL is not set: nowhere to read the registry from")
    started = time.monotonic()
    preload()
    _, end = settings.cutover.window(business_date)
    capture_id = uuid.uuid4()
    stream, source = _open(settings.me_url, business_date, end)
    phases: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.monotonic()
        phases[name] = round(now - since, 3)
        return now

    try:
        with stream:
            (as_of, sequence), _ = _stage(
                database_url, stream, source, capture_id, end, business_date
            )
        mark = lap("stream_s", started)
        # Landed in a transaction that commits only once validation passed.
        with transaction(database_url) as conn, conn.cursor() as cur:
            if fencing_token is not None:
                check_fence(cur, fencing_token)
            landed = _land_tentatively(cur, business_date, capture_id, as_of, sequence)
            if landed is not None:
                # Statistics that know D's millions of rows, committed with them: the
                # models read D's capture next, and planned on stale statistics they
                # expect a few thousand rows and pick plans for that.
                cur.execute("select eod.analyze_me_balances()")
            mark = lap("land_s", mark)
            validation = validate_registry(
                database_url,
                business_date,
                capture_id,
                settings.state_dir,
                unique_by_key=landed is not None,
                fencing_token=fencing_token,
            )
            if landed is None:  # validation passed what could not land: never silently
                raise InputError(f"registry for {business_date} passed validation but cannot land")
        lap("validate_s", mark)
    finally:
        _discard(database_url, capture_id)
    summary = {
        "rows": landed,
        "as_of": iso_instant(as_of),
        "sequence": sequence,
        "validation": validation.summary(),
        **phases,
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("registry for %s captured: %s", business_date, summary)
    return summary
