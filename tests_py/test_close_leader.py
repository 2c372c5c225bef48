"""One close at a time: the advisory lock and the fencing token."""

from __future__ import annotations

import psycopg2
import pytest

from eod.close import leader
from eod.close.leader import NotLeader


def test_second_leader_is_refused_naming_the_holder(db_url):
    with leader.acquire(db_url) as first:
        with pytest.raises(NotLeader) as refused:
            leader.acquire(db_url, business_date="2026-11-02")
        message = str(refused.value)
        assert "for 2026-11-02" in message and "eod-close-leader" in message
        assert first.holder in message
    # released: the next election succeeds with a newer token
    with leader.acquire(db_url) as second:
        assert second.fencing_token == first.fencing_token + 1


def test_leader_that_lost_its_lock_cannot_commit(db_url):
    first = leader.acquire(db_url)
    pid = first.conn.get_backend_pid()
    with psycopg2.connect(db_url) as admin, admin.cursor() as cur:
        cur.execute("select pg_terminate_backend(%s)", (pid,))
    second = leader.acquire(db_url)
    try:
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            with pytest.raises(NotLeader, match="stale"):
                leader.check_fence(cur, first.fencing_token)
            conn.rollback()
            leader.check_fence(cur, second.fencing_token)
    finally:
        second.release()
