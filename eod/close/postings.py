"""Posting the close's journals into `exchange.ledger_entries`.

The dbt journal models hold the legs (journal_id, user_id, account, currency, amount,
reference_id) of D's fee journal and staking payouts. Posting copies them into the
ledger idempotently against the posting index (legs already there are skipped), so
re-running a posting (or a close killed before its step was recorded) adds nothing.
Every journal goes in whole in one statement: the ledger's balance trigger checks
each statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from psycopg2 import errors, sql

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
    try:
        cur.execute(sql.SQL(_INSERT).format(relation), params)
    except errors.UniqueViolation:
        cur.execute("rollback to savepoint post_journal")
        cur.execute(sql.SQL(_INSERT + _SKIP_POSTED).format(relation), params)
    inserted = cur.rowcount
    cur.execute("release savepoint post_journal")
    return PostingResult(reference_type, journals, legs, inserted)
