"""PagerDuty Events v2 `trigger` events: what a page says, and sending one.

The close never sends a page itself: it writes the page into the page outbox
(`eod.paging.outbox`) in the transaction of what it reports, and the deliverer sends
it with `send`, one attempt at a time, retrying later with backoff until accepted.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlparse

from eod.config import Settings
from eod.errors import ConfigError, EodError, ServiceError

log = logging.getLogger(__name__)

SOURCE = "eod-close"
SEVERITIES = ("critical", "error", "warning", "info")
PAGE_SAMPLE = 5  # breaks named in a page
SUMMARY_LIMIT = 1024  # PagerDuty truncates longer summaries; keep ours whole
TIMEOUT_S = 10.0


class PageRefused(EodError):
    """The pager answered 4xx (other than 429): the event itself is wrong, and sending
    it again cannot help."""


def dedup_key(business_date: date, check: str) -> str:
    """The incident key of a check on a date: the same on every re-run of that date."""
    return f"eod/{business_date.isoformat()}/{check}"


def _describe(item: Any) -> str:
    if isinstance(item, Mapping):
        return " ".join(f"{k}={v}" for k, v in item.items())
    return str(item)


def format_breaks(
    business_date: date, check: str, count: int, first: Sequence[Any], limit: int = PAGE_SAMPLE
) -> str:
    """One line naming the date, the check, the count of breaks and the first few."""
    shown = "; ".join(_describe(item) for item in list(first)[:limit])
    noun = "break" if count == 1 else "breaks"
    text = f"EOD {business_date.isoformat()} {check}: {count} {noun}"
    if shown:
        text += f"; first: {shown}"
    if len(text) > SUMMARY_LIMIT:
        text = text[: SUMMARY_LIMIT - 3] + "..."
    return text


@dataclass(frozen=True)
class Page:
    """One page: its incident key and the Events v2 payload."""

    dedup_key: str
    summary: str
    severity: str = "critical"
    custom_details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def payload(self) -> dict[str, Any]:
        return {
            "summary": self.summary[:SUMMARY_LIMIT],
            "source": SOURCE,
            "severity": self.severity,
            "custom_details": json.loads(json.dumps(self.custom_details, default=str)),
        }


def breaks_page(business_date: date, check: str, count: int, first: Sequence[Any]) -> Page:
    """The page of a broken reconciliation or validation check."""
    sample = [dict(item) if isinstance(item, Mapping) else item for item in first[:PAGE_SAMPLE]]
    return Page(
        dedup_key(business_date, check),
        format_breaks(business_date, check, count, sample),
        "critical",
        {
            "business_date": business_date.isoformat(),
            "check": check,
            "breaks": count,
            "first": json.loads(json.dumps(sample, default=str)),
        },
    )


def step_failure_page(business_date: date, step: str, reason: str) -> Page:
    """The page of a step of the close that failed or timed out."""
    return Page(
        dedup_key(business_date, f"step:{step}"),
        f"EOD {business_date.isoformat()} step {step} failed: {reason}"[:SUMMARY_LIMIT],
        "critical",
        {"business_date": business_date.isoformat(), "step": step, "reason": reason},
    )


def enqueue_url(pager_url: str) -> str:
    """The events endpoint: a bare host means PagerDuty's path, /v2/enqueue."""
    parsed = urlparse(pager_url)
    if parsed.path in ("", "/"):
        return pager_url.rstrip("/") + "/v2/enqueue"
    return pager_url


def send(settings: Settings, key: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """One attempt to trigger a page; returns the pager's reply. PageRefused when the
    pager rejects the event, ServiceError when it cannot be reached or fails (5xx, 429):
    the caller retries those later, with the same dedup key."""
    if not settings.pager_url:
        raise ConfigError("EOD_PAGER_URL is not set")
    if not settings.pager_routing_key:
        raise ConfigError("EOD_PAGER_URL is set but EOD_PAGER_ROUTING_KEY is not")
    url = enqueue_url(settings.pager_url)
    body = {
        "routing_key": settings.pager_routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": dict(payload),
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            reply = json.loads(response.read().decode() or "{}")
    except urllib.error.HTTPError as exc:
        text = f"HTTP {exc.code} {exc.read().decode(errors='replace')[:200]}".strip()
        if exc.code < 500 and exc.code != 429:
            raise PageRefused(f"pager refused the event: {text}") from None
        raise ServiceError(f"pager at {url} failed: {text}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc or type(exc).__name__
        raise ServiceError(f"pager unreachable at {url}: {reason}") from None
    log.info("paged %s: %s", key, payload.get("summary"))
    return reply
