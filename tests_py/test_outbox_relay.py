"""The outbox relay publishes to JetStream once per event, with Nats-Msg-Id = event_id,
creates its stream when missing, and holds events while NATS is down."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest

from eod.errors import ServiceError
from eod.outbox import enqueue
from eod.outbox.relay import relay_once
from tests_py.accounts_fixtures import (
    connect,
    fetch,
    private_nats,  # noqa: F401  (fixture)
    setup_platform,
    stream_messages,
)
from tests_py.conftest import run_eod


def outbox(url):
    return fetch(
        url,
        "select event_id::text, subject, payload, published_at from eod.outbox order by seq",
    )


def transition(url, user_id, to_state, actor="ops", reason="case 1"):
    with contextlib.closing(connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "select exchange.transition_account(%s, %s, %s, %s)", (user_id, to_state, actor, reason)
        )


def stream_config(url: str) -> tuple[list[str], float]:
    async def read():
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info("EOD_EVENTS")
            return list(info.config.subjects), info.config.duplicate_window
        finally:
            await nc.close()

    return asyncio.run(read())


def test_relay_creates_the_stream_and_delivers_each_event_once(db_url, private_nats):  # noqa: F811
    setup_platform(db_url, {1: "active"})
    transition(db_url, 1, "suspended")
    with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
        generic_id = enqueue(cur, "eod.capture.completed", {"business_date": "2026-01-02"})
    transition(db_url, 1, "active", actor="bob", reason="cleared")

    report = relay_once(db_url, private_nats.url)
    assert (report.published, report.duplicates) == (3, 0)
    subjects, window = stream_config(private_nats.url)
    assert sorted(subjects) == ["account.>", "eod.>"] and window == 120

    rows = outbox(db_url)
    assert all(r[3] is not None for r in rows)
    messages = stream_messages(private_nats.url)
    assert [(m["subject"], m["msg_id"], m["payload"]) for m in messages] == [
        (r[1], r[0], r[2]) for r in rows
    ]
    assert [m["subject"] for m in messages] == [
        "account.suspended",
        "eod.capture.completed",
        "account.restored",
    ]
    assert messages[1]["payload"] == {"business_date": "2026-01-02", "event_id": str(generic_id)}
    assert messages[2]["payload"]["from_state"] == "suspended"
    assert messages[2]["payload"]["can_trade"] is True

    # Relaying again sends nothing.
    again = relay_once(db_url, private_nats.url)
    assert (again.published, again.duplicates) == (0, 0)
    assert len(stream_messages(private_nats.url)) == 3

    # A relay that published but did not mark (crash) re-sends: JetStream drops the copies.
    with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
        cur.execute("update eod.outbox set published_at = null")
    resent = relay_once(db_url, private_nats.url)
    assert (resent.published, resent.duplicates) == (0, 3)
    assert len(stream_messages(private_nats.url)) == 3


def test_events_wait_while_nats_is_down_and_go_out_when_it_returns(
    db_url,
    eod_env,
    private_nats,  # noqa: F811
):
    setup_platform(db_url, {1: "active", 2: "pending_kyc"})
    transition(db_url, 1, "restricted")
    assert relay_once(db_url, private_nats.url).published == 1

    private_nats.stop()
    transition(db_url, 1, "suspended")
    transition(db_url, 2, "kyc_approved")
    with pytest.raises(ServiceError, match="unreachable"):
        relay_once(db_url, private_nats.url)
    env = dict(eod_env, NATS_URL=private_nats.url)
    cli = run_eod(["outbox", "relay", "--once"], env, check=False)
    assert cli.returncode == 3
    assert len(cli.stderr.strip().splitlines()) == 1 and "unreachable" in cli.stderr
    pending = [r for r in outbox(db_url) if r[3] is None]
    assert [r[1] for r in pending] == ["account.suspended", "account.kyc_approved"]
    status = run_eod(["status"], env).stdout.splitlines()
    assert status[0] == "no close recorded"
    assert status[1].startswith("outbox: 2 event(s) not yet published to NATS, oldest ")

    private_nats.start()  # same port, same store directory
    cli = run_eod(["outbox", "relay", "--once"], env)
    assert cli.stdout.strip() == "published 2 events (0 already in the stream)"
    assert all(r[3] is not None for r in outbox(db_url))
    messages = stream_messages(private_nats.url)
    assert [(m["subject"], m["msg_id"]) for m in messages] == [(r[1], r[0]) for r in outbox(db_url)]
    assert [m["payload"]["user_id"] for m in messages] == [1, 1, 2]


class RelayKilled(BaseException):
    """Stands in for the relay's process dying: nothing after it runs."""


def test_a_relay_killed_mid_batch_resends_only_what_was_not_acknowledged(
    db_url,
    private_nats,  # noqa: F811
    monkeypatch,
):
    """Each event is marked as JetStream acknowledges it: a relay that dies after k
    acknowledgements leaves k marked, and the next relay sends the rest, each event
    landing once by Nats-Msg-Id with no help from the duplicate window."""
    from eod.outbox import relay

    total, killed_after = 7, 3
    with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
        ids = [str(enqueue(cur, "eod.test.event", {"n": n})) for n in range(total)]

    real_mark = relay.mark_published
    marked: list[str] = []

    def dies_after_k(cur, event_id):
        real_mark(cur, event_id)
        marked.append(event_id)
        if len(marked) == killed_after:
            raise RelayKilled

    monkeypatch.setattr(relay, "mark_published", dies_after_k)
    with pytest.raises(RelayKilled):
        relay_once(db_url, private_nats.url, batch_size=5)
    monkeypatch.setattr(relay, "mark_published", real_mark)
    published = {r[0] for r in outbox(db_url) if r[3] is not None}
    assert published == set(ids[:killed_after])
    assert [m["msg_id"] for m in stream_messages(private_nats.url)] == ids[:killed_after]

    # the restarted relay sends the other four, none twice (no duplicate to drop)
    report = relay_once(db_url, private_nats.url, batch_size=5)
    assert (report.published, report.duplicates) == (total - killed_after, 0)
    assert [m["msg_id"] for m in stream_messages(private_nats.url)] == ids
    assert all(r[3] is not None for r in outbox(db_url))


def test_a_second_relay_leaves_the_work_to_the_one_publishing(db_url, private_nats):  # noqa: F811
    from eod.outbox.relay import _RELAY_LOCK_KEY

    with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
        enqueue(cur, "eod.test.event", {"n": 1})
    with contextlib.closing(connect(db_url, autocommit=True)) as holder:
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (_RELAY_LOCK_KEY,))
        assert relay_once(db_url, private_nats.url).published == 0
    assert relay_once(db_url, private_nats.url).published == 1


def test_enqueue_refuses_subjects_no_stream_carries(db_url):
    with contextlib.closing(connect(db_url)) as conn, conn.cursor() as cur:
        for subject in ("orders.created", "eod.", "eodx.step", "account.a b"):
            with pytest.raises(ValueError, match="not under any stream"):
                enqueue(cur, subject, {})
        conn.rollback()
    assert outbox(db_url) == []
