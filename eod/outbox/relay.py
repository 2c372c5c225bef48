"""Relay pending outbox events to NATS JetStream.

Each pending row is published with header `Nats-Msg-Id` = event_id, in outbox order,
then marked published in the same database transaction that locked it. Delivery is
once: a row marked published is never sent again, and a row sent but not marked (a
crash between the two) is dropped by JetStream's duplicate window when re-sent.
While NATS is unreachable nothing is marked, so the events wait for the next relay.
Rows are locked with SKIP LOCKED, so two relays never send the same row at once.
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


async def _publish(nats_url: str, rows: list[tuple], report: RelayReport) -> list[str]:
    """Publish rows in order; returns the event ids JetStream acknowledged."""
    try:
        nc = await asyncio.wait_for(
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
    acked: list[str] = []
    try:
        js = nc.jetstream(timeout=5)
        await ensure_streams(js)
        for event_id, subject, payload in rows:
            body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
            try:
                ack = await js.publish(subject, body, headers={"Nats-Msg-Id": str(event_id)})
            except Exception as exc:
                log.warning("publish of %s stopped at event %s: %s", subject, event_id, exc)
                break
            acked.append(str(event_id))
            report.published += 0 if ack.duplicate else 1
            report.duplicates += 1 if ack.duplicate else 0
            report.subjects[subject] = report.subjects.get(subject, 0) + 1
    finally:
        await nc.close()
    return acked


def relay_once(database_url: str, nats_url: str, batch_size: int = BATCH_SIZE) -> RelayReport:
    """Publish every pending event; ServiceError (events left pending) when NATS fails."""
    report = RelayReport()
    while True:
        conn = connect(database_url, application_name="eod-outbox-relay")
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    """select event_id, subject, payload from eod.outbox
                       where published_at is null
                       order by seq
                       limit %s
                       for update skip locked""",
                    (batch_size,),
                )
                rows = cur.fetchall()
                if not rows:
                    return report
                acked = asyncio.run(_publish(nats_url, rows, report))
                if acked:
                    cur.execute(
                        """update eod.outbox set published_at = now()
                           where event_id = any(%s::uuid[])""",
                        (acked,),
                    )
        finally:
            conn.close()
        if len(acked) < len(rows):
            raise ServiceError(
                f"NATS at {nats_url} stopped accepting events; "
                f"{len(rows) - len(acked)} left in the outbox"
            )
        if len(rows) < batch_size:
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
