"""Paging: PagerDuty Events v2 bodies over real HTTP to the loopback simulator."""

from __future__ import annotations

import dataclasses
import json
import logging
import urllib.error
import urllib.request
from datetime import date

import pytest

from eod.config import Settings
from eod.devkit.simulators.pager import PagerSimulator
from eod.errors import ConfigError, ServiceError
from eod.paging import dedup_key, format_breaks, page, page_breaks, page_step_failure
from eod.paging import events as paging_events

D = date(2026, 3, 14)


@pytest.fixture
def pager():
    with PagerSimulator() as sim:
        yield sim


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(paging_events, "BACKOFF_S", 0.01)


def settings(url: str | None, key: str | None = "R0UT1NGKEY") -> Settings:
    return dataclasses.replace(Settings.from_env(), pager_url=url, pager_routing_key=key)


def test_page_posts_events_v2_shape(pager):
    reply = page(
        settings(pager.url), "eod/2026-03-14/custody", "custody drift", "critical", {"n": 1}
    )
    assert reply == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "eod/2026-03-14/custody",
    }
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


def test_dedup_key_is_stable_per_date_and_check():
    assert dedup_key(D, "me_ledger") == dedup_key(date(2026, 3, 14), "me_ledger")
    assert dedup_key(D, "me_ledger") != dedup_key(D, "custody")
    assert dedup_key(D, "me_ledger") != dedup_key(date(2026, 3, 15), "me_ledger")


def test_repeated_failure_keeps_its_key(pager):
    rows = [{"user_id": 7, "currency": "BTC", "difference": "0.5"}]
    page_breaks(settings(pager.url), D, "me_ledger", 1, rows)
    page_breaks(settings(pager.url), D, "me_ledger", 1, rows)
    keys = {e["dedup_key"] for e in pager.events}
    assert keys == {"eod/2026-03-14/me_ledger"}
    assert len(pager.events) == 2


def test_page_names_date_check_count_and_first_breaks(pager):
    rows = [{"user_id": u, "currency": "ETH", "difference": f"{u}.5"} for u in range(1, 9)]
    page_breaks(settings(pager.url), D, "me_ledger", 8, rows)
    payload = pager.events[0]["payload"]
    assert payload["summary"] == (
        "EOD 2026-03-14 me_ledger: 8 breaks; first: "
        "user_id=1 currency=ETH difference=1.5; user_id=2 currency=ETH difference=2.5; "
        "user_id=3 currency=ETH difference=3.5; user_id=4 currency=ETH difference=4.5; "
        "user_id=5 currency=ETH difference=5.5"
    )
    assert payload["custom_details"]["breaks"] == 8
    assert payload["custom_details"]["business_date"] == "2026-03-14"
    assert [r["user_id"] for r in payload["custom_details"]["first"]] == [1, 2, 3, 4, 5]


def test_format_breaks_single_break_and_long_text():
    assert format_breaks(D, "staking", 1, []) == "EOD 2026-03-14 staking: 1 break"
    long = format_breaks(D, "x", 3, ["y" * 2000])
    assert len(long) == 1024 and long.endswith("...")


def test_retries_on_5xx_then_succeeds(pager):
    pager.fail_next(2, 503)
    page_step_failure(settings(pager.url), D, "dbt_build", "timeout")
    assert len(pager.events) == 1
    assert pager.events[0]["dedup_key"] == "eod/2026-03-14/step:dbt_build"
    assert "dbt_build failed: timeout" in pager.events[0]["payload"]["summary"]


def test_gives_up_after_retries_with_one_line(pager):
    pager.fail_next(5, 500)
    with pytest.raises(ServiceError) as err:
        page(settings(pager.url), "k", "s")
    assert "after 3 tries" in str(err.value) and "\n" not in str(err.value)
    assert pager.events == []


def test_connection_refused_is_a_service_error():
    with PagerSimulator() as sim:
        url = sim.url
    with pytest.raises(ServiceError, match="pager unreachable"):
        page(settings(url), "k", "s")


def test_no_pager_url_only_logs(caplog):
    with caplog.at_level(logging.WARNING, logger="eod.paging.events"):
        assert page(settings(None), "eod/2026-03-14/custody", "custody drift") is None
    assert "custody drift" in caplog.text and "eod/2026-03-14/custody" in caplog.text


def test_pager_url_without_routing_key_is_refused(pager):
    with pytest.raises(ConfigError, match="EOD_PAGER_ROUTING_KEY"):
        page(settings(pager.url, key=None), "k", "s")


def test_bare_host_url_gets_the_enqueue_path(pager):
    bare = pager.url.removesuffix("/v2/enqueue")
    page(settings(bare), "k", "s")
    assert len(pager.events) == 1


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


def test_bad_event_is_not_retried(pager):
    with pytest.raises(ValueError):
        page(settings(pager.url), "k", "s", severity="fatal")
    assert pager.events == [] and pager.rejected == []


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
