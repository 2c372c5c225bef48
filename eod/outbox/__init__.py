"""The transactional outbox: events written with the change they announce.

`enqueue(cursor, subject, payload)` inserts an event into `eod.outbox` in the
caller's transaction, so the event exists exactly when the change commits. The
relay (`eod.outbox.relay`) later publishes pending events to NATS JetStream with
`Nats-Msg-Id` = event_id and marks them published. Account transitions write their
events from the database trigger into the same table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg2.extras import Json, execute_values


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]


# The streams the relay creates when missing; every enqueued subject must fall in one.
STREAMS = (StreamSpec("EOD_EVENTS", ("eod.>", "account.>")),)
_PREFIXES = tuple(s[:-1] for spec in STREAMS for s in spec.subjects)


def _check_subject(subject: str) -> None:
    if not subject.startswith(_PREFIXES) or subject.endswith(".") or " " in subject:
        raise ValueError(
            f"outbox subject {subject!r} is not under any stream ({', '.join(_PREFIXES)})"
        )


def enqueue(cur, subject: str, payload: dict[str, Any]) -> uuid.UUID:
    """Write one event in the cursor's transaction; returns its event_id.

    The payload gets `event_id` too, so a consumer can deduplicate on the body alone.
    """
    _check_subject(subject)
    event_id = uuid.uuid4()
    body = {**payload, "event_id": str(event_id)}
    cur.execute(
        "insert into eod.outbox (event_id, subject, payload) values (%s, %s, %s)",
        (str(event_id), subject, Json(body)),
    )
    return event_id


def enqueue_many(cur, subject: str, payloads: Iterable[dict[str, Any]]) -> int:
    """`enqueue` for many events of one subject, in batches of rows rather than one
    statement each (a close may open or clear thousands of breaks); returns how many."""
    _check_subject(subject)
    rows = []
    for payload in payloads:
        event_id = str(uuid.uuid4())
        rows.append((event_id, subject, Json({**payload, "event_id": event_id})))
    if rows:
        execute_values(
            cur,
            "insert into eod.outbox (event_id, subject, payload) values %s",
            rows,
            page_size=1000,
        )
    return len(rows)
