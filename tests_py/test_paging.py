"""Paging: pages wait in the page outbox and leave for the loopback PagerDuty simulator
over real HTTP, retried with backoff under the same dedup key until accepted."""

from __future__ import annotations

import dataclasses
import json
import logging
import types
import urllib.error
import urllib.request
from datetime import date

import psycopg2
import pytest

from eod.config import Settings
from eod.devkit.simulators.pager import PagerSimulator
from eod.paging import (
    Page,
    breaks_page,
    dedup_key,
    deliver_pages,
    enqueue_page,
    format_breaks,
    step_failure_page,
    undelivered_pages,
)
from eod.paging import events as paging_events
from eod.paging import outbox as page_outbox

D = date(2026, 3, 14)


@pytest.fixture
def pager():
    with PagerSimulator() as sim:
        yield sim


def settings(url: str | None, key: str | None = "R0UT1NGKEY") -> Settings:
    return dataclasses.replace(Settings.from_env(), pager_url=url, pager_routing_key=key)


def queue(db_url: str, *pages: Page) -> list[int]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        return [enqueue_page(cur, page) for page in pages]


def pages(db_url: str) -> list[dict]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(
            """select page_id, dedup_key, attempts, last_error,
                      accepted_at is not null as accepted, refused_at is not null as refused,
                      extract(epoch from next_attempt_at - last_attempt_at) as pause_s
               from eod.page_outbox order by page_id"""
        )
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def make_due(db_url: str) -> None:
    """Time passes: every waiting page is due again."""
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("update eod.page_outbox set next_attempt_at = now()")


def test_a_page_leaves_in_events_v2_shape(db_url, pager):
    queue(db_url, Page("eod/2026-03-14/custody", "custody drift", "critical", {"n": 1}))
    report = deliver_pages(db_url, settings(pager.url))
    assert (report.accepted, report.failed, report.refused) == (1, 0, 0)
    assert pager.events == [
        {
            "routing_key": "R0UT1NGKEY",
            "event_action": "trigger",
            "dedup_key": "eod/2026-03-14/custody",
            "payload": {
                "summary": "custody drift",
                "source": "eod-close",
                "severity": "critical",
                "custom_details": {"n": 1},
            },
        }
    ]
    [row] = pages(db_url)
    assert (row["accepted"], row["attempts"]) == (True, 1)
    # delivered once: a second round sends nothing
    assert deliver_pages(db_url, settings(pager.url)).accepted == 0
    assert len(pager.attempts) == 1


def test_dedup_key_is_stable_per_date_and_check():
    assert dedup_key(D, "me_ledger") == dedup_key(date(2026, 3, 14), "me_ledger")
    assert dedup_key(D, "me_ledger") != dedup_key(D, "custody")
    assert dedup_key(D, "me_ledger") != dedup_key(date(2026, 3, 15), "me_ledger")


def test_a_page_names_date_check_count_and_first_breaks():
    rows = [{"user_id": u, "currency": "ETH", "difference": f"{u}.5"} for u in range(1, 9)]
    page = breaks_page(D, "me_ledger", 8, rows)
    assert page.dedup_key == "eod/2026-03-14/me_ledger"
    payload = page.payload()
    assert payload["summary"] == (
        "EOD 2026-03-14 me_ledger: 8 breaks; first: "
        "user_id=1 currency=ETH difference=1.5; user_id=2 currency=ETH difference=2.5; "
        "user_id=3 currency=ETH difference=3.5; user_id=4 currency=ETH difference=4.5; "
        "user_id=5 currency=ETH difference=5.5"
    )
    assert payload["custom_details"]["breaks"] == 8
    assert payload["custom_details"]["business_date"] == "2026-03-14"
    assert [r["user_id"] for r in payload["custom_details"]["first"]] == [1, 2, 3, 4, 5]
    failure = step_failure_page(D, "dbt_build", "timeout")
    assert failure.dedup_key == "eod/2026-03-14/step:dbt_build"
    assert failure.payload()["summary"] == "EOD 2026-03-14 step dbt_build failed: timeout"


def test_format_breaks_single_break_and_long_text():
    assert format_breaks(D, "staking", 1, []) == "EOD 2026-03-14 staking: 1 break"
    long = format_breaks(D, "x", 3, ["y" * 2000])
    assert len(long) == 1024 and long.endswith("...")


def test_a_bad_severity_is_refused_before_anything_is_queued():
    with pytest.raises(ValueError, match="severity"):
        Page("k", "s", severity="fatal")


@pytest.mark.parametrize("mode", ["down", "500"])
def test_retried_with_backoff_under_the_same_key_until_accepted(db_url, pager, mode):
    """The pager is down (or failing): the page waits, each failed attempt doubles the
    pause before the next, every attempt carries the same dedup key, and once the
    pager is back the page is accepted once."""
    queue(db_url, step_failure_page(D, "dbt_build", "timeout"))
    pager.mode = mode
    pauses = []
    for attempt in range(1, 4):
        report = deliver_pages(db_url, settings(pager.url))
        assert (report.accepted, report.failed) == (0, 1)
        [row] = pages(db_url)
        assert (row["attempts"], row["accepted"], row["refused"]) == (attempt, False, False)
        pauses.append(float(row["pause_s"]))
        # not due yet: a round before the pause is over sends nothing
        assert deliver_pages(db_url, settings(pager.url)).failed == 0
        make_due(db_url)
    base = page_outbox.BACKOFF_S
    assert pauses == [base, 2 * base, 4 * base]
    assert "pager" in row["last_error"] and "\n" not in row["last_error"]
    assert [line.split(", oldest")[0] for line in undelivered_pages(db_url)] == [
        "pager: 1 page(s) not yet accepted"
    ]
    assert "last error: " in undelivered_pages(db_url)[0]

    pager.mode = "up"
    assert deliver_pages(db_url, settings(pager.url)).accepted == 1
    assert [e["dedup_key"] for e in pager.events] == ["eod/2026-03-14/step:dbt_build"]
    assert {a["dedup_key"] for a in pager.attempts} == {"eod/2026-03-14/step:dbt_build"}
    assert len(pager.attempts) == 4
    assert undelivered_pages(db_url) == []


def test_a_slow_pager_delays_the_page_not_the_caller(db_url, pager, monkeypatch):
    """An answer slower than the client's timeout is a failed attempt, retried later
    under the same key (the pager dedups the incident if it took the first)."""
    monkeypatch.setattr(paging_events, "TIMEOUT_S", 0.2)
    pager.mode, pager.slow_s = "slow", 1.0
    queue(db_url, step_failure_page(D, "capture_custody", "HTTP 500"))
    report = deliver_pages(db_url, settings(pager.url))
    assert (report.accepted, report.failed) == (0, 1)
    assert "timed out" in pages(db_url)[0]["last_error"]
    pager.mode = "up"
    make_due(db_url)
    assert deliver_pages(db_url, settings(pager.url)).accepted == 1


def test_an_outage_stops_the_round_and_the_rest_wait(db_url, pager):
    queue(db_url, *(step_failure_page(D, f"step{n}", "x") for n in range(3)))
    pager.mode = "down"
    report = deliver_pages(db_url, settings(pager.url))
    assert (report.accepted, report.failed) == (0, 1)
    assert [r["attempts"] for r in pages(db_url)] == [1, 0, 0]
    pager.mode = "up"
    make_due(db_url)
    assert deliver_pages(db_url, settings(pager.url)).accepted == 3
    assert [e["dedup_key"] for e in pager.events] == [
        f"eod/2026-03-14/step:step{n}" for n in range(3)
    ]


def test_a_refused_page_is_kept_and_shown_not_retried(db_url, pager):
    queue(db_url, step_failure_page(D, "close", "x"))
    pager.fail_next(1, 400)
    report = deliver_pages(db_url, settings(pager.url))
    assert (report.accepted, report.refused) == (0, 1)
    make_due(db_url)
    assert deliver_pages(db_url, settings(pager.url)).refused == 0
    assert len(pager.attempts) == 1
    assert undelivered_pages(db_url) == [
        "pager: 1 page(s) refused by the pager (see eod.page_outbox)"
    ]


def test_without_a_pager_url_a_page_is_only_logged(db_url, caplog):
    queue(db_url, Page("eod/2026-03-14/custody", "custody drift"))
    with caplog.at_level(logging.WARNING, logger="eod.paging.outbox"):
        assert deliver_pages(db_url, settings(None)).accepted == 1
    assert "custody drift" in caplog.text and "eod/2026-03-14/custody" in caplog.text
    assert undelivered_pages(db_url) == []


def test_a_pager_url_without_routing_key_leaves_the_page_waiting(db_url, pager):
    queue(db_url, Page("k", "s"))
    report = deliver_pages(db_url, settings(pager.url, key=None))
    assert report.failed == 1 and "EOD_PAGER_ROUTING_KEY" in report.errors[0]
    assert pager.attempts == []


def test_bare_host_url_gets_the_enqueue_path(db_url, pager):
    queue(db_url, Page("k", "s"))
    bare = pager.url.removesuffix("/v2/enqueue")
    assert deliver_pages(db_url, settings(bare)).accepted == 1
    assert len(pager.events) == 1


def test_a_page_commits_with_its_transaction_or_not_at_all(db_url):
    """Written in the caller's transaction: rolled back with it, nothing is sent."""
    conn = psycopg2.connect(db_url)
    with conn.cursor() as cur:
        enqueue_page(cur, Page("k", "s"))
    conn.rollback()
    conn.close()
    assert pages(db_url) == []


def test_the_serve_relay_delivers_pages_once_the_pager_is_back(db_url, pager):
    from eod.commands.serve import _relay_round

    queue(db_url, breaks_page(D, "custody", 1, [{"currency": "BTC"}]))
    ctx = types.SimpleNamespace(
        database_url=db_url, settings=settings(pager.url), nats_url="nats://127.0.0.1:1"
    )
    pager.mode = "down"
    _relay_round(ctx)  # NATS unreachable too: both wait, nothing raises
    assert pager.events == [] and pages(db_url)[0]["attempts"] == 1
    pager.mode = "up"
    make_due(db_url)
    _relay_round(ctx)
    assert [e["dedup_key"] for e in pager.events] == ["eod/2026-03-14/custody"]


def _raw_post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"event_action": "trigger", "payload": {}}).encode(),
        json.dumps(
            {
                "routing_key": "k",
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "x", "severity": "fatal"},
            }
        ).encode(),
        json.dumps({"routing_key": "k", "event_action": "resolve"}).encode(),
    ],
)
def test_simulator_rejects_bad_events_like_pagerduty(pager, body):
    status, reply = _raw_post(pager.url, body)
    assert status == 400
    assert reply["status"] == "invalid event" and reply["errors"]
    assert pager.events == []


def test_simulator_generates_a_key_when_none_is_given(pager):
    body = {
        "routing_key": "k",
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "info"},
    }
    status, reply = _raw_post(pager.url, json.dumps(body).encode())
    assert status == 202 and reply["status"] == "success" and len(reply["dedup_key"]) == 32


def test_enqueue_alert_writes_the_page_as_an_outbox_event(db_url):
    import psycopg2

    from eod.paging import enqueue_alert

    rows = [{"currency": "BTC", "difference": "0.5"}]
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        event_id = enqueue_alert(cur, D, "custody", 1, rows)
    with conn, conn.cursor() as cur:
        cur.execute("select event_id, subject, payload from eod.outbox")
        [(stored_id, subject, payload)] = cur.fetchall()
    conn.close()
    assert (str(stored_id), subject) == (str(event_id), "eod.alert")
    assert payload == {
        "business_date": "2026-03-14",
        "check": "custody",
        "breaks": 1,
        "first": rows,
        "severity": "critical",
        "dedup_key": "eod/2026-03-14/custody",
        "summary": "EOD 2026-03-14 custody: 1 break; first: currency=BTC difference=0.5",
        "event_id": str(event_id),
    }
