"""`eod bench posting`: what the ledger's balance rule costs a posting of the fee journal.

A database of its own holds a ledger of `history` legs (the trade legs of past days)
and a fee journal model of `journals` two-leg journals (the close bench's day posts
241k journals, 482k legs). The same posting (eod.close.postings' insert) is timed, each
time rolled back so that every variant meets the same ledger:

- no balance check at all (the triggers off): the floor;
- as before the rule moved to commit (migration 0700): a statement trigger over each
  statement's rows, and no tx_id index;
- the close's posting now: post_journal, which declares whole journals per statement;
- every leg checked at commit, as a writer that declares nothing gets it (the deferred
  checks run by `set constraints all immediate` before the rollback).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from eod.close import postings
from eod.db import session

_MODEL = ("public", "bench_fee_journal", "fee_journal")
_DATE = date(2026, 1, 3)


def _prepare(url: str, journals: int, history: int) -> None:
    with session(url) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "insert into exchange.currencies (currency, decimals) values ('USDT', 6)"
            " on conflict do nothing"
        )
        # past days' trade legs: two-leg journals, as many as asked
        cur.execute("set local session_replication_role = replica")
        cur.execute(
            """insert into exchange.ledger_entries
                   (journal_id, user_id, account, currency, amount, reference_type,
                    reference_id, business_date, effective_at, created_by)
               select j, case when leg = 1 then g %% 1000000 end,
                      case when leg = 1 then 'user' else 'house:bench' end, 'USDT',
                      case when leg = 1 then 1 else -1 end, 'trade', g::text,
                      date '2026-01-01', timestamptz '2026-01-01', 'bench'
               from (select g, gen_random_uuid() as j
                     from generate_series(1, %s) g) t,
                    generate_series(1, 2) leg""",
            (history // 2,),
        )
        cur.execute(
            """create table public.bench_fee_journal as
               select %s::date as business_date, j as journal_id,
                      'fee:' || g as reference_id,
                      case when leg = 1 then g end as user_id,
                      case when leg = 1 then 'user' else 'house:fee_revenue' end as account,
                      'USDT'::text as currency,
                      case when leg = 1 then -0.25 else 0.25 end::numeric(38, 18) as amount
               from (select g, gen_random_uuid() as j
                     from generate_series(1, %s) g) t,
                    generate_series(1, 2) leg""",
            (_DATE, journals),
        )
    with session(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("vacuum analyze exchange.ledger_entries, public.bench_fee_journal")


def _timed(url: str, prepare: list[str], post, finish: list[str]) -> float:
    """Seconds of `post` and `finish`, rolled back after."""
    with session(url) as conn:
        try:
            with conn.cursor() as cur:
                for statement in prepare:
                    cur.execute(statement)
                started = time.perf_counter()
                post(cur)
                for statement in finish:
                    cur.execute(statement)
                return time.perf_counter() - started
        finally:
            conn.rollback()


def _plain_insert(cur) -> None:
    """The posting's insert with nothing declared, as a platform writer's would be."""
    cur.execute(
        postings._INSERT.replace("{}", "public.bench_fee_journal"),
        ("fee_journal", _DATE, datetime(2026, 1, 4, tzinfo=UTC), "eod", _DATE),
    )


def _close_posting(cur) -> None:
    postings.post_journal(cur, _MODEL, _DATE, _DATE, datetime(2026, 1, 4, tzinfo=UTC))


def bench_posting(url: str, journals: int, history: int) -> dict[str, float]:
    _prepare(url, journals, history)
    figures = {
        "no balance check (floor)": _timed(
            url, ["set local session_replication_role = replica"], _close_posting, []
        ),
        "as before: each statement checked, no tx_id index": _timed(
            url,
            [
                "drop trigger ledger_entries_balanced_at_commit on exchange.ledger_entries",
                "drop index exchange.ledger_entries_tx_id_idx",
            ],
            _close_posting,
            [],
        ),
        "now: the close's posting (whole journals declared)": _timed(
            url, [], _close_posting, ["set constraints all immediate"]
        ),
        "every leg checked at commit (nothing declared)": _timed(
            url, [], _plain_insert, ["set constraints all immediate"]
        ),
    }
    return figures
