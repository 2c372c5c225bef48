"""The `eod.alert` event that accompanies a page, written through the outbox.

The event carries the page's dedup key and summary, so a consumer of NATS sees the
same incident on-call was paged about; it is written in the caller's transaction and
published by the outbox relay (delivered later if NATS is down).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from eod.paging.events import PAGE_SAMPLE, dedup_key, format_breaks

SUBJECT = "eod.alert"


def alert_payload(
    business_date: date,
    check: str,
    count: int,
    first: Sequence[Any],
    severity: str = "critical",
    summary: str | None = None,
) -> dict[str, Any]:
    sample = [dict(i) if isinstance(i, Mapping) else i for i in list(first)[:PAGE_SAMPLE]]
    return {
        "business_date": business_date.isoformat(),
        "check": check,
        "breaks": count,
        "first": json.loads(json.dumps(sample, default=str)),
        "severity": severity,
        "dedup_key": dedup_key(business_date, check),
        "summary": summary or format_breaks(business_date, check, count, sample),
    }


def enqueue_alert(
    cur,
    business_date: date,
    check: str,
    count: int,
    first: Sequence[Any],
    severity: str = "critical",
    summary: str | None = None,
) -> uuid.UUID:
    """Write `eod.alert` in the cursor's transaction; returns the event id."""
    from eod.outbox import enqueue

    return enqueue(
        cur, SUBJECT, alert_payload(business_date, check, count, first, severity, summary)
    )
