"""Posting a journal model into the ledger: whole journals, each leg once, however
often it runs and whatever part of the journal is already there."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg2
import pytest

from eod.close import postings
from tests_py.capture_fixtures import query, seed_currencies

D = date(2026, 3, 14)
POSTED_AT = datetime(2026, 3, 15, tzinfo=UTC)
JOURNAL = ("public", "journal_model", "fee_journal")
# Two journals of two legs: user -fee, house +fee.
LEGS = [
    ("00000000-0000-0000-0000-000000000001", "D:1:BTC", 1, "user", "BTC", "-0.001"),
    ("00000000-0000-0000-0000-000000000001", "D:1:BTC", None, "house:fee_revenue", "BTC", "0.001"),
    ("00000000-0000-0000-0000-000000000002", "D:2:USDT", 2, "user", "USDT", "-1.5"),
    ("00000000-0000-0000-0000-000000000002", "D:2:USDT", None, "house:fee_revenue", "USDT", "1.5"),
]


@pytest.fixture
def db(db_url):
    seed_currencies(db_url)
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            """create table public.journal_model (
                   business_date date, journal_id uuid, reference_id text, user_id bigint,
                   account text, currency text, amount numeric)"""
        )
        cur.executemany(
            "insert into public.journal_model values (%s, %s, %s, %s, %s, %s, %s)",
            [(D, *leg) for leg in LEGS],
        )
    conn.close()
    return db_url


def post(db_url: str) -> postings.PostingResult:
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            return postings.post_journal(cur, JOURNAL, D, D, POSTED_AT)
    finally:
        conn.close()


def ledger(db_url: str) -> list[tuple]:
    return query(
        db_url,
        """select reference_id, user_id, account, currency, amount
           from exchange.ledger_entries where reference_type = 'fee_journal'
           order by reference_id, account""",
    )


def test_posts_every_leg_once_however_often_it_runs(db):
    first = post(db)
    assert (first.journals, first.legs_in_model, first.legs_inserted) == (2, 4, 4)
    posted = ledger(db)
    assert len(posted) == 4 and sum(r[4] for r in posted) == 0
    assert post(db).legs_inserted == 0
    assert ledger(db) == posted


def test_adds_only_the_legs_missing_from_a_partly_posted_journal(db):
    conn = psycopg2.connect(db)
    with conn, conn.cursor() as cur:
        # One whole journal is already there (posted by someone else).
        cur.execute(
            """insert into exchange.ledger_entries
                   (journal_id, user_id, account, currency, amount, reference_type,
                    reference_id, business_date, effective_at, created_by)
               select journal_id, user_id, account, currency, amount, 'fee_journal',
                      reference_id, business_date, %s, 'other'
               from public.journal_model where reference_id = 'D:1:BTC'""",
            (POSTED_AT,),
        )
    conn.close()
    assert post(db).legs_inserted == 2
    rows = ledger(db)
    assert [(r[0], r[2]) for r in rows] == [
        ("D:1:BTC", "house:fee_revenue"),
        ("D:1:BTC", "user"),
        ("D:2:USDT", "house:fee_revenue"),
        ("D:2:USDT", "user"),
    ]
    assert query(db, "select count(*) from exchange.ledger_entries where created_by = 'eod'") == [
        (2,)
    ]


def test_an_unbalanced_journal_is_refused_whole(db):
    conn = psycopg2.connect(db)
    with conn, conn.cursor() as cur:
        cur.execute(
            "update public.journal_model set amount = %s where account = 'user' and user_id = 2",
            (Decimal("-1.4"),),
        )
    conn.close()
    with pytest.raises(psycopg2.errors.CheckViolation, match="does not sum to zero"):
        post(db)
    assert ledger(db) == []


_LEG = """insert into exchange.ledger_entries
              (journal_id, user_id, account, currency, amount, reference_type,
               reference_id, business_date, effective_at, created_by)
          values (%s, %s, %s, %s, %s, 'platform_transfer', 'T:1', %s, %s, 'platform')"""
_J = "00000000-0000-0000-0000-0000000000aa"


def _write_leg_by_leg(db_url: str, legs: list[tuple]) -> None:
    """One transaction, one statement per leg, committed at the end."""
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            for user_id, account, currency, amount in legs:
                cur.execute(_LEG, (_J, user_id, account, currency, Decimal(amount), D, POSTED_AT))
    finally:
        conn.close()


def _journal_legs(db_url: str) -> list[tuple]:
    return query(
        db_url,
        """select account, currency, amount from exchange.ledger_entries
           where journal_id = %s order by entry_id""",
        (_J,),
    )


def test_a_journal_written_leg_by_leg_in_one_transaction_is_accepted(db):
    # three statements: the user's BTC leg, then the house leg in two parts
    legs = [
        (7, "user", "BTC", "-0.5"),
        (None, "house:fees", "BTC", "0.2"),
        (None, "house:fees", "BTC", "0.3"),
    ]
    _write_leg_by_leg(db, legs)
    assert _journal_legs(db) == [
        ("user", "BTC", Decimal("-0.5")),
        ("house:fees", "BTC", Decimal("0.2")),
        ("house:fees", "BTC", Decimal("0.3")),
    ]


def test_a_journal_left_unbalanced_at_commit_is_refused_naming_it(db):
    legs = [(7, "user", "BTC", "-0.5"), (None, "house:fees", "BTC", "0.4")]
    with pytest.raises(psycopg2.errors.CheckViolation) as refused:
        _write_leg_by_leg(db, legs)
    # the ledger's amounts are numeric(38, 18): -0.5 + 0.4 in that scale
    left_over = (Decimal("-0.5") + Decimal("0.4")).quantize(Decimal(10) ** -18)
    assert refused.value.diag.message_primary == (
        f"journal {_J} does not sum to zero in BTC (sum {left_over})"
    )
    assert _journal_legs(db) == []


def test_a_writer_declaring_whole_journals_has_each_statement_checked(db):
    # the close's postings declare whole journals: an unbalanced statement is refused
    # at once, and nothing is written
    conn = psycopg2.connect(db)
    try:
        refused = pytest.raises(psycopg2.errors.CheckViolation, match=f"journal {_J} does not sum")
        with refused, conn, conn.cursor() as cur:
            cur.execute(postings.WHOLE_JOURNALS)
            cur.execute(_LEG, (_J, 7, "user", "BTC", Decimal("-0.5"), D, POSTED_AT))
    finally:
        conn.close()
    assert _journal_legs(db) == []


def test_a_writer_cannot_stamp_its_legs_with_another_transaction(db):
    # tx_id tells which closes can see an entry: the ledger sets it, never its writer
    conn = psycopg2.connect(db)
    try:
        refused = pytest.raises(psycopg2.errors.CheckViolation, match="tx_id is set by the ledger")
        with refused, conn, conn.cursor() as cur:
            for user_id, account, amount in ((7, "user", "-0.5"), (None, "house:fees", "0.5")):
                cur.execute(
                    """insert into exchange.ledger_entries
                           (journal_id, user_id, account, currency, amount, reference_type,
                            reference_id, business_date, effective_at, created_by, tx_id)
                       values (%s, %s, %s, 'BTC', %s, 'platform_transfer', 'T:1', %s, %s,
                               'platform', '3')""",
                    (_J, user_id, account, Decimal(amount), D, POSTED_AT),
                )
    finally:
        conn.close()
    assert _journal_legs(db) == []
