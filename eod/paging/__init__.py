"""Paging on-call in PagerDuty Events API v2 shape (CONTRACT section 8).

`page()` posts one event; `page_breaks()` and `page_step_failure()` are what the close
calls. Dedup keys come from (business date, check) only, so a check that keeps failing
on re-runs of the same date updates one incident instead of opening new ones.
`enqueue_alert()` writes the matching `eod.alert` event through the outbox.
"""

from eod.paging.alerts import alert_payload, enqueue_alert
from eod.paging.events import (
    PAGE_SAMPLE,
    dedup_key,
    format_breaks,
    page,
    page_breaks,
    page_step_failure,
)

__all__ = [
    "PAGE_SAMPLE",
    "alert_payload",
    "enqueue_alert",
    "dedup_key",
    "format_breaks",
    "page",
    "page_breaks",
    "page_step_failure",
]
