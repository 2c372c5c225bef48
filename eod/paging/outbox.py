"""The page outbox `eod.page_outbox`: pages wait here until the pager accepts them.

A page is written in the caller's transaction, so it exists exactly when what it
reports commits, and nothing that freezes or records waits on an HTTP call. The
deliverer (`deliver_pages`, run at the end of every close and by `eod serve`) sends
each page that is due, one attempt each, in a short transaction of its own that locks
only that page's row (SKIP LOCKED: two deliverers never send the same page at once).
A failed attempt is retried later, after an exponentially growing pause, with the
same dedup key; a page the pager refuses (4xx) is kept, marked refused, and shown.
Without EOD_PAGER_URL a page is only logged (and published on NATS as `eod.alert`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from psycopg2.extras import Json

from eod.config import Settings
from eod.db import connect, fetch_all
from eod.errors import EodError, first_line
from eod.paging.events import Page, PageRefused, send

log = logging.getLogger(__name__)

BACKOFF_S = 5.0  # the pause after the first failed attempt, doubled after each one
BACKOFF_CAP_S = 600.0
NO_PAGER = "no EOD_PAGER_URL: logged only"


def enqueue_page(cur, page: Page) -> int:
    """Write a page in the cursor's transaction; returns its page_id."""
    cur.execute(
        """insert into eod.page_outbox (dedup_key, payload) values (%s, %s)
           returning page_id""",
        (page.dedup_key, Json(page.payload())),
    )
    return cur.fetchone()[0]


@dataclass
class PageDelivery:
    accepted: int = 0
    failed: int = 0  # left for a later attempt
    refused: int = 0
    errors: list[str] = field(default_factory=list)


def _next_due(cur) -> tuple | None:
    cur.execute(
        """select page_id, dedup_key, payload, attempts from eod.page_outbox
           where accepted_at is null and refused_at is null and next_attempt_at <= now()
           order by page_id
           limit 1
           for update skip locked"""
    )
    return cur.fetchone()


def deliver_pages(database_url: str, settings: Settings, limit: int = 100) -> PageDelivery:
    """Send the pages that are due (at most `limit`); never raises for the pager's sake.

    After a page fails to leave because the pager is unreachable or failing, the round
    stops: the others would meet the same pager, and wait for the next round.
    """
    report = PageDelivery()
    conn = connect(database_url, application_name="eod-page-deliverer")
    try:
        for _ in range(limit):
            with conn, conn.cursor() as cur:
                row = _next_due(cur)
                if row is None:
                    break
                page_id, key, payload, attempts = row
                if not settings.pager_url:
                    log.warning("page (%s) [%s] %s", NO_PAGER, key, payload.get("summary"))
                    cur.execute(
                        """update eod.page_outbox set accepted_at = now(), last_error = %s
                           where page_id = %s""",
                        (NO_PAGER, page_id),
                    )
                    report.accepted += 1
                    continue
                try:
                    send(settings, key, payload)
                except PageRefused as exc:
                    cur.execute(
                        """update eod.page_outbox
                           set refused_at = now(), attempts = attempts + 1, last_error = %s,
                               last_attempt_at = now()
                           where page_id = %s""",
                        (str(exc), page_id),
                    )
                    log.error("page %s refused: %s", key, exc)
                    report.refused += 1
                    report.errors.append(str(exc))
                    continue
                except EodError as exc:
                    pause = min(BACKOFF_S * 2**attempts, BACKOFF_CAP_S)
                    cur.execute(
                        """update eod.page_outbox
                           set attempts = attempts + 1, last_error = %s,
                               last_attempt_at = now(),
                               next_attempt_at = now() + make_interval(secs => %s)
                           where page_id = %s""",
                        (first_line(exc), pause, page_id),
                    )
                    report.failed += 1
                    report.errors.append(first_line(exc))
                    break
                cur.execute(
                    """update eod.page_outbox
                       set accepted_at = now(), attempts = attempts + 1,
                           last_attempt_at = now()
                       where page_id = %s""",
                    (page_id,),
                )
                report.accepted += 1
    finally:
        conn.close()
    return report


def undelivered_pages(database_url: str) -> list[str]:
    """Lines for `eod status`: pages not yet accepted, and pages the pager refused."""
    ((waiting, oldest, last_error, refused),) = fetch_all(
        database_url,
        """select count(*) filter (where refused_at is null),
                  min(created_at) filter (where refused_at is null),
                  (array_agg(last_error order by page_id desc)
                       filter (where refused_at is null and last_error is not null))[1],
                  count(*) filter (where refused_at is not null)
           from eod.page_outbox where accepted_at is null""",
    )
    lines = []
    if waiting:
        why = f", last error: {last_error}" if last_error else ""
        lines.append(
            f"pager: {waiting} page(s) not yet accepted, oldest {oldest:%Y-%m-%d %H:%M:%S%z}{why}"
        )
    if refused:
        lines.append(f"pager: {refused} page(s) refused by the pager (see eod.page_outbox)")
    return lines
