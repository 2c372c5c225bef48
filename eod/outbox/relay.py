"""Relay pending outbox events to NATS JetStream.

Each pending row is published with header `Nats-Msg-Id` = event_id, in outbox order,
and marked published (committed) as soon as JetStream acknowledges it, message by
message: a relay killed mid-batch leaves marked exactly the events JetStream holds,
so the next relay re-sends only the one whose acknowledgement it may have missed (a
crash between the ack and the mark), which JetStream's duplicate window drops.
While NATS is unreachable nothing is marked, so the events wait for the next relay.
One relay publishes at a time (a session advisory lock): a second one finds the lock
held and leaves the work to the first, so the stream keeps the outbox's order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field

import nats
from nats.js.errors import BadRequestError, NotFoundError

from eod.db import connect
from eod.errors import ServiceError
from eod.outbox import STREAMS

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_S = 120.0
BATCH_SIZE = 500
_RELAY_LOCK_KEY = 0x0E0D_0B0C  # the advisory lock one relay holds while it publishes


@dataclass
class RelayReport:
    published: int = 0
    duplicates: int = 0  # already in the stream (an earlier relay sent but did not mark)
    subjects: dict[str, int] = field(default_factory=dict)


async def ensure_streams(js) -> None:
    """Create the product's streams when missing (a stream already covering the subjects
    under another name is left alone)."""
    for spec in STREAMS:
        try:
            await js.stream_info(spec.name)
            continue
        except NotFoundError:
            pass
        try:
            await js.add_stream(
                name=spec.name, subjects=list(spec.subjects), duplicate_window=DUPLICATE_WINDOW_S
            )
        except BadRequestError:
            # Another stream already owns these subjects: publishing still lands there.
            for subject in spec.subjects:
                await js.find_stream_name_by_subject(subject.replace(">", "x"))


async def _quiet(exc: Exception) -> None:
    """Connection errors reach the caller as one ServiceError; no tracebacks in the log."""
    log.debug("nats: %s", exc)


async def _connect(nats_url: str):
    try:
        return await asyncio.wait_for(
            nats.connect(
                nats_url,
                connect_timeout=3,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would mean "forever" to nats-py
                error_cb=_quiet,
            ),
            timeout=10,
        )
    except Exception as exc:
        raise ServiceError(
            f"NATS at {nats_url} is unreachable: {exc or type(exc).__name__}"
        ) from None


def mark_published(cur, event_id: str) -> None:
    """Record one event as accepted by JetStream (autocommit: it lasts at once)."""
    cur.execute("update eod.outbox set published_at = now() where event_id = %s", (event_id,))


def _pending(cur, batch_size: int) -> list[tuple]:
    cur.execute(
        """select event_id, subject, payload from eod.outbox
           where published_at is null
           order by seq
           limit %s""",
        (batch_size,),
    )
    return cur.fetchall()


async def _relay(cur, nats_url: str, batch_size: int, report: RelayReport) -> None:
    """Publish pending rows batch by batch, marking each as JetStream acknowledges it."""
    rows = _pending(cur, batch_size)
    if not rows:
        return
    nc = await _connect(nats_url)
    try:
        js = nc.jetstream(timeout=5)
        await ensure_streams(js)
        while rows:
            for event_id, subject, payload in rows:
                body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
                try:
                    ack = await js.publish(subject, body, headers={"Nats-Msg-Id": str(event_id)})
                except Exception as exc:
                    log.warning("publish of %s stopped at event %s: %s", subject, event_id, exc)
                    left = len(_pending(cur, batch_size))
                    raise ServiceError(
                        f"NATS at {nats_url} stopped accepting events; "
                        f"{left}{'+' if left == batch_size else ''} left in the outbox"
                    ) from None
                mark_published(cur, str(event_id))
                report.published += 0 if ack.duplicate else 1
                report.duplicates += 1 if ack.duplicate else 0
                report.subjects[subject] = report.subjects.get(subject, 0) + 1
            rows = _pending(cur, batch_size) if len(rows) == batch_size else []
    finally:
        await nc.close()


def relay_once(database_url: str, nats_url: str, batch_size: int = BATCH_SIZE) -> RelayReport:
    """Publish every pending event; ServiceError (events left pending) when NATS fails.
    Returns at once, publishing nothing, while another relay holds the lock."""
    report = RelayReport()
    conn = connect(database_url, application_name="eod-outbox-relay", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s)", (_RELAY_LOCK_KEY,))
            if not cur.fetchone()[0]:
                log.info("another outbox relay is publishing; leaving the events to it")
                return report
            asyncio.run(_relay(cur, nats_url, batch_size, report))
    finally:
        conn.close()  # releases the lock
    return report


def relay_forever(
    database_url: str, nats_url: str, stop: threading.Event, interval_s: float = 1.0
) -> None:
    """Relay until `stop` is set; outages are logged and retried on the next round."""
    while not stop.is_set():
        try:
            report = relay_once(database_url, nats_url)
            if report.published:
                log.info("relayed %d events", report.published)
        except ServiceError as exc:
            log.warning("outbox relay: %s", exc)
        stop.wait(interval_s)
