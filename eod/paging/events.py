"""Building and sending PagerDuty Events v2 `trigger` events."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlparse

from eod.config import Settings
from eod.errors import ConfigError, ServiceError

log = logging.getLogger(__name__)

SOURCE = "eod-close"
SEVERITIES = ("critical", "error", "warning", "info")
PAGE_SAMPLE = 5  # breaks named in a page
SUMMARY_LIMIT = 1024  # PagerDuty truncates longer summaries; keep ours whole
RETRIES = 3
BACKOFF_S = 0.5
TIMEOUT_S = 10.0


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


def _enqueue_url(pager_url: str) -> str:
    """The events endpoint: a bare host means PagerDuty's path, /v2/enqueue."""
    parsed = urlparse(pager_url)
    if parsed.path in ("", "/"):
        return pager_url.rstrip("/") + "/v2/enqueue"
    return pager_url


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    last = "no attempt"
    for attempt in range(RETRIES):
        if attempt:
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                text = response.read().decode() or "{}"
                return json.loads(text)
        except urllib.error.HTTPError as exc:
            reply = exc.read().decode(errors="replace")[:200]
            last = f"HTTP {exc.code} {reply}".strip()
            if exc.code < 500 and exc.code != 429:
                # A 4xx other than rate limiting means the event itself is wrong:
                # sending it again cannot help.
                raise ServiceError(f"pager refused the event: {last}") from None
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            last = str(getattr(exc, "reason", exc))
    raise ServiceError(f"pager unreachable after {RETRIES} tries at {url}: {last}")


def page(
    settings: Settings,
    dedup_key: str,
    summary: str,
    severity: str = "critical",
    custom_details: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Trigger a page; without EOD_PAGER_URL it is only logged. Returns the pager's reply."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    payload = {
        "summary": summary[:SUMMARY_LIMIT],
        "source": SOURCE,
        "severity": severity,
        "custom_details": dict(custom_details or {}),
    }
    if not settings.pager_url:
        log.warning("page (no EOD_PAGER_URL) [%s] %s: %s", severity, dedup_key, summary)
        return None
    if not settings.pager_routing_key:
        raise ConfigError("EOD_PAGER_URL is set but EOD_PAGER_ROUTING_KEY is not")
    body = {
        "routing_key": settings.pager_routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
    }
    reply = _post(_enqueue_url(settings.pager_url), body)
    log.info("paged %s: %s", dedup_key, summary)
    return reply


def page_breaks(
    settings: Settings, business_date: date, check: str, count: int, first: Sequence[Any]
) -> dict[str, Any] | None:
    """Page a broken reconciliation or validation check."""
    sample = [dict(item) if isinstance(item, Mapping) else item for item in first[:PAGE_SAMPLE]]
    return page(
        settings,
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


def page_step_failure(
    settings: Settings, business_date: date, step: str, reason: str
) -> dict[str, Any] | None:
    """Page a step of the close that failed or timed out."""
    return page(
        settings,
        dedup_key(business_date, f"step:{step}"),
        f"EOD {business_date.isoformat()} step {step} failed: {reason}"[:SUMMARY_LIMIT],
        "critical",
        {"business_date": business_date.isoformat(), "step": step, "reason": reason},
    )
