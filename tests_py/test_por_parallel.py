"""The proof of reserves built in worker processes: the same roots as one process and as
a naive tree, the caller's application_name on the workers' connections, and a worker's
error or death reaching the caller as one line."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from datetime import date
from decimal import ROUND_DOWN, Decimal

import psycopg2
import pytest

from eod.db import set_application_name
from eod.errors import ConfigError, EodError
from eod.por import EMPTY_HASH, build_proof_of_reserves
from eod.por.workers import worker_count
from eod.por_key import store_por_key
from tests_py.test_por import SECRET, hand_leaf, naive_tree

D = date(2026, 3, 14)
DECIMALS = {"BTC": 8, "DOGE": 8, "ETH": 18, "SOL": 9, "USDT": 6}
USERS = {"BTC": 300, "ETH": 150, "USDT": 77, "SOL": 1, "DOGE": 0}


def total(user_id: int, currency: str) -> Decimal:
    """Some balances negative, some zero, some with more digits than the currency keeps."""
    raw = (user_id * 7919 + len(currency) * 104729) % 200_000 - 20_000
    return Decimal(raw) / 1000 + Decimal("0.0000000001234")


def units(user_id: int, currency: str) -> int:
    t = total(user_id, currency)
    return int(t.scaleb(DECIMALS[currency]).to_integral_value(rounding=ROUND_DOWN)) if t > 0 else 0


def load_snapshot(db_url: str, table: str = "marts.user_balance_snapshots") -> None:
    rows = [
        (D, user_id, currency, total(user_id, currency))
        for currency, count in USERS.items()
        for user_id in range(1, count + 1)
    ]
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.executemany(
            "insert into exchange.currencies (currency, decimals) values (%s, %s)",
            list(DECIMALS.items()),
        )
        store_por_key(conn, SECRET)
        cur.execute(
            f"""create table {table} (
                   business_date date, user_id bigint, currency text, total numeric(38, 18),
                   locked numeric(38, 18), available numeric(38, 18), leaf_hash text)"""
        )
        cur.executemany(
            f"insert into {table} values (%s, %s, %s, %s, 0, %s, null)",
            [(*row, row[3]) for row in rows],
        )
        cur.execute(
            f"""update {table} as s
                set leaf_hash = eod.por_leaf_hash(s.business_date, s.user_id, s.currency,
                    trunc(greatest(s.total, 0) * power(10::numeric, c.decimals)))
                from exchange.currencies as c where c.currency = s.currency"""
        )
    conn.close()


def naive_roots() -> dict[str, tuple[str, int, int]]:
    """(hash, sum, leaf_count) of every currency, from leaves made in Python."""
    roots = {}
    for currency, count in USERS.items():
        leaves = [
            (hand_leaf(u, currency, units(u, currency)), units(u, currency))
            for u in range(1, count + 1)
        ]
        roots[currency] = (*naive_tree(leaves)[-1][0], count) if leaves else (EMPTY_HASH, 0, 0)
    return roots


def published(db_url: str) -> dict[str, tuple[str, int, int]]:
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            """select currency, root_hash, root_sum, leaf_count from marts.proof_of_reserves
               where business_date = %s""",
            (D,),
        )
        rows = {currency: (h, int(s), n) for currency, h, s, n in cur.fetchall()}
    conn.close()
    return rows


def test_one_two_and_four_workers_publish_the_naive_roots(db_url):
    load_snapshot(db_url)
    expected = naive_roots()
    summaries = {}
    for workers in (1, 2, 4):
        summaries[workers] = build_proof_of_reserves(db_url, D, workers=workers)
        assert published(db_url) == expected
    assert summaries[1]["currencies"] == summaries[2]["currencies"] == summaries[4]["currencies"]
    assert list(summaries[2]["currencies"]) == sorted(DECIMALS)
    assert summaries[2]["currencies"]["BTC"]["leaf_count"] == 300
    assert (summaries[1]["workers"], summaries[1]["workers_peak_mib"]) == (1, None)
    # four trees have leaves (DOGE has none), so four workers, one tree each
    assert [summaries[n]["workers"] for n in (2, 4)] == [2, 4]
    assert all(summaries[n]["workers_peak_mib"] > 10 for n in (2, 4))


def test_workers_read_with_the_callers_application_name(db_url, monkeypatch):
    """The step watchdog terminates a step's backends by name: the workers' must carry it."""
    load_snapshot(db_url, table="marts.snapshot_rows")
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        # Each backend that reads a leaf notes its pid and application_name.
        cur.execute(
            """create table marts.leaf_readers (pid int, application_name text, currency text,
                   unique (pid, application_name, currency));
               create function marts.note_reader(currency text) returns boolean
               language sql volatile as $$
                   insert into marts.leaf_readers
                   values (pg_backend_pid(), current_setting('application_name'), currency)
                   on conflict do nothing;
                   select true
               $$;
               create view marts.user_balance_snapshots as
                   select * from marts.snapshot_rows where marts.note_reader(currency)"""
        )
    monkeypatch.delenv("PGAPPNAME", raising=False)  # restored after the test
    set_application_name("eod-step por-test")
    try:
        build_proof_of_reserves(db_url, D, workers=2)
    finally:
        set_application_name("eod")
    assert published(db_url) == naive_roots()
    with conn, conn.cursor() as cur:
        cur.execute("select distinct application_name from marts.leaf_readers")
        assert cur.fetchall() == [("eod-step por-test",)]
        cur.execute("select count(distinct pid) from marts.leaf_readers")
        # the caller (counting the leaves) and one connection per tree with leaves
        assert cur.fetchone()[0] == 1 + 4
    conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_a_worker_reaches_the_caller_as_itself(db_url, workers):
    load_snapshot(db_url)
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            """update marts.user_balance_snapshots set leaf_hash = null
               where currency = 'ETH' and user_id = 17"""
        )
    conn.close()
    with pytest.raises(
        EodError, match=r"^user 17 has no leaf_hash \(\(datetime.date\(2026, 3"
    ) as err:
        build_proof_of_reserves(db_url, D, workers=workers)
    assert type(err.value) is EodError
    if workers > 1:  # the worker's traceback comes along as the cause
        assert "in stream_leaves" in str(err.value.__cause__)
    assert published(db_url) == {}


def test_a_killed_worker_fails_the_build_in_one_line(db_url):
    load_snapshot(db_url)
    outcome: dict[str, BaseException] = {}

    def build() -> None:
        try:
            build_proof_of_reserves(db_url, D, workers=2)
        except BaseException as exc:
            outcome["error"] = exc

    builder = threading.Thread(target=build)
    builder.start()
    deadline = time.monotonic() + 30
    while not multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.005)
    victim = multiprocessing.active_children()[0]
    os.kill(victim.pid, signal.SIGKILL)
    builder.join(60)
    assert not builder.is_alive()
    error = outcome["error"]
    assert type(error) is EodError
    assert str(error).startswith("the proof-of-reserves worker process building ")
    assert "for 2026-03-14 was killed by SIGKILL (out of memory?)" in str(error)
    assert str(error).endswith("no root was published") and "\n" not in str(error)
    assert multiprocessing.active_children() == []  # the other worker was stopped
    assert published(db_url) == {}


def test_worker_count(monkeypatch):
    monkeypatch.delenv("EOD_POR_WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    assert worker_count(6) == min(6, cpus)
    assert worker_count(0) == 1
    assert worker_count(6, requested=3) == 3  # forced: not capped at the CPUs
    assert worker_count(2, requested=3) == 2
    monkeypatch.setenv("EOD_POR_WORKERS", "1")
    assert worker_count(6) == 1
    monkeypatch.setenv("EOD_POR_WORKERS", "64")
    assert worker_count(100) == cpus
    monkeypatch.setenv("EOD_POR_WORKERS", "0")
    with pytest.raises(ConfigError, match="EOD_POR_WORKERS must be at least 1"):
        worker_count(6)
