"""Paging on-call in PagerDuty Events API v2 shape (CONTRACT section 8).

A page is written into the page outbox (`enqueue_page`) in the transaction of what it
reports, so a freeze, a break record or a step's failure never waits on the pager;
`deliver_pages` sends what is due, retrying with exponential backoff under the same
dedup key until the pager accepts it. Dedup keys come from (business date, check)
only, so a check that keeps failing on re-runs of the same date updates one incident
instead of opening new ones. `enqueue_alert()` writes the matching `eod.alert` event
through the event outbox.
"""

from eod.paging.alerts import alert_payload, enqueue_alert
from eod.paging.events import (
    PAGE_SAMPLE,
    Page,
    PageRefused,
    breaks_page,
    dedup_key,
    format_breaks,
    send,
    step_failure_page,
)
from eod.paging.outbox import deliver_pages, enqueue_page, undelivered_pages

__all__ = [
    "PAGE_SAMPLE",
    "Page",
    "PageRefused",
    "alert_payload",
    "breaks_page",
    "deliver_pages",
    "dedup_key",
    "enqueue_alert",
    "enqueue_page",
    "format_breaks",
    "send",
    "step_failure_page",
    "undelivered_pages",
]
