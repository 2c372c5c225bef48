"""Posting the close's journals into `exchange.ledger_entries`.

The dbt journal models hold the legs (journal_id, user_id, account, currency, amount,
reference_id) of D's fee journal and staking payouts. Posting copies them into the
ledger idempotently against the posting index (legs already there are skipped), so
re-running a posting (or a close killed before its step was recorded) adds nothing.
Every journal goes in whole in one statement, and the posting says so
(WHOLE_JOURNALS): the ledger then checks the balance rule over each statement's rows
at once instead of each leg at commit (migration 0700), which keeps a fee journal of
482k legs as fast to post as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg2
from psycopg2 import errors, sql

from eod.citus.layout import citus_enabled

WHOLE_JOURNALS = "set local exchange.journals_whole_per_statement = on"
ALL_LEGS_AT_COMMIT = "set local exchange.journals_whole_per_statement = off"

FEE_JOURNAL = ("marts", "fct_fee_journal", "fee_journal")
PAYOUT_JOURNAL = ("marts", "fct_staking_payout_journal", "staking_payout")


@dataclass(frozen=True)
class PostingResult:
    reference_type: str
    journals: int
    legs_in_model: int
    legs_inserted: int

    def as_detail(self) -> dict:
        return {
            "reference_type": self.reference_type,
            "journals": self.journals,
            "legs": self.legs_in_model,
            "inserted": self.legs_inserted,
        }


_INSERT = """insert into exchange.ledger_entries
                   (journal_id, user_id, account, currency, amount, reference_type,
                    reference_id, reason, business_date, effective_at, created_by)
               select journal_id, user_id, account, currency, amount, %s,
                      reference_id, null, %s, %s, %s
               from {}
               where business_date = %s and amount <> 0"""
_SKIP_POSTED = """
               on conflict (reference_type, reference_id, account, currency,
                            coalesce(user_id, -1))
                   where reference_type in ('fee_journal', 'staking_payout')
               do nothing"""


def post_journal(
    cur,
    journal: tuple[str, str, str],
    source_business_date: date,
    posting_business_date: date,
    posted_at: datetime,
    created_by: str = "eod",
) -> PostingResult:
    """Copy D's legs of a journal model into the ledger; idempotent.

    The legs are inserted plainly first: ON CONFLICT's speculative insertion costs
    about a third more per leg, and normally nothing of D's journal is in the ledger
    (the posting commits with its step record). Should any leg be there already, the
    posting index refuses the plain insert, which is undone, and the journal goes in
    with ON CONFLICT DO NOTHING, adding only the legs that are missing.
    """
    schema, table, reference_type = journal
    relation = sql.Identifier(schema, table)
    cur.execute(
        sql.SQL(
            "select count(*), count(distinct journal_id) from {} where business_date = %s"
        ).format(relation),
        (source_business_date,),
    )
    legs, journals = cur.fetchone()
    params = (reference_type, posting_business_date, posted_at, created_by, source_business_date)
    # The journal-balance trigger reads every inserted leg back: in memory, not on disk.
    cur.execute("set local work_mem = '512MB'")
    cur.execute("savepoint post_journal")
    cur.execute(WHOLE_JOURNALS)
    try:
        cur.execute(sql.SQL(_INSERT).format(relation), params)
        inserted = cur.rowcount
    except psycopg2.Error as exc:
        if not _posted_already(exc):
            raise
        cur.execute("rollback to savepoint post_journal")
        cur.execute(WHOLE_JOURNALS)
        inserted = _insert_missing(cur, relation, params, reference_type, posting_business_date)
    # the rest of the caller's transaction is checked leg by leg at commit again
    cur.execute(ALL_LEGS_AT_COMMIT)
    cur.execute("release savepoint post_journal")
    return PostingResult(reference_type, journals, legs, inserted)


def _posted_already(exc: psycopg2.Error) -> bool:
    """The posting index refused a leg. On Citus the refusal comes from the shard that
    holds the leg, relayed with the shard's message under an internal error code."""
    if isinstance(exc, errors.UniqueViolation):
        return True
    message = getattr(exc.diag, "message_primary", None) or ""
    return exc.pgcode == "XX000" and message.startswith(
        "duplicate key value violates unique constraint"
    )


def _insert_missing(cur, relation, params, reference_type: str, business_date: date) -> int:
    """Insert only the legs the ledger lacks; how many went in."""
    if not citus_enabled(cur):
        cur.execute(sql.SQL(_INSERT + _SKIP_POSTED).format(relation), params)
        return cur.rowcount
    # Citus: the posting index also holds journal_id (its distribution column), so the
    # conflict is any; its row count is the rows it read, so count what was added (the
    # close is the only writer of its own reference types)
    count = """select count(*) from exchange.ledger_entries
               where reference_type = %s and business_date = %s"""
    cur.execute(count, (reference_type, business_date))
    before = cur.fetchone()[0]
    cur.execute(sql.SQL(_INSERT + " on conflict do nothing").format(relation), params)
    cur.execute(count, (reference_type, business_date))
    return cur.fetchone()[0] - before
