"""Late ledger entries through the real close (Postgres, NATS, dbt, Prefect, simulators).

Two platform writers interleave: A writes a deposit dated D1 first (smaller entry ids)
and commits only after D1's close; B writes one dated D1 after A (larger ids) and
commits before the close. The engine and custody hold both deposits from D1 on.
Expected, by hand: D1's close sees B and not A, so it breaks on A's pair, and on
custody in A's currency, by exactly A's amount; D2's close counts A once, lists its two
legs as late, breaks on nothing and clears both breaks; D1's breaks per day read the
same before and after D2's close, and both seals still match (`eod seal verify`); an
entry arriving after D2's close changes nothing of what D2 counted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg2

from eod.commands.close import close_date
from eod.seal import verify
from eod.seal.canonical import COUNTED_ENTRIES, LEDGER, digest
from tests_py.close_fixtures import running_exchange

DEPOSIT_A = Decimal("7.5")
DEPOSIT_B = Decimal("2.5")
COUNTED = f"select entry_id from {COUNTED_ENTRIES} order by 1"
BREAKS_DAILY = """select business_date, check_name, open_breaks, new_breaks, resolved_breaks,
        oldest_open_days from marts.fct_recon_breaks_daily order by business_date, check_name"""


def _deposit(cur, day, user_id, currency, amount) -> list[int]:
    """A deposit journal dated `day` (user +amount, house -amount); its entry ids."""
    journal = str(uuid.uuid4())
    at = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
    cur.execute(
        """insert into exchange.ledger_entries (journal_id, user_id, account, currency, amount,
               reference_type, reference_id, business_date, effective_at, created_by)
           values (%(j)s, %(u)s, 'user', %(c)s, %(a)s, 'deposit', %(j)s, %(d)s, %(at)s, 'platform'),
                  (%(j)s, null, 'house:deposits', %(c)s, -%(a)s, 'deposit', %(j)s, %(d)s, %(at)s,
                   'platform')
           returning entry_id""",
        {"j": journal, "u": user_id, "c": currency, "a": amount, "d": day, "at": at},
    )
    return sorted(row[0] for row in cur.fetchall())


def test_a_late_entry_breaks_its_own_date_and_is_counted_once_by_the_next_close(
    db_url, nats_url, monkeypatch, tmp_path
):
    with running_exchange(db_url, nats_url, monkeypatch, tmp_path, days=2) as x:
        d1, d2 = x.dates
        # two pairs the engine holds on both days, each credited with its deposit
        (ua, ca), (ub, cb) = x.fetch(
            """select user_id, currency from sim.me_registry where business_date = %s
               and (user_id, currency) in (select user_id, currency from sim.me_registry
                                           where business_date = %s)
               order by user_id, currency limit 2""",
            (d1, d2),
        )
        for user_id, currency, amount in ((ua, ca, DEPOSIT_A), (ub, cb, DEPOSIT_B)):
            x.fetch(
                """update sim.me_registry set total = total + %s
                   where user_id = %s and currency = %s and business_date in (%s, %s)
                   returning 1""",
                (amount, user_id, currency, d1, d2),
            )
            # and custody received it: one wallet of the currency holds it from D1 on
            x.fetch(
                """update sim.custody_wallet_balances w
                   set balance_units = balance_units + %s * power(10::numeric, c.decimals)
                   from exchange.currencies c
                   where c.currency = w.currency and w.currency = %s and w.wallet_no = 1
                     and w.business_date in (%s, %s)
                   returning 1""",
                (amount, currency, d1, d2),
            )

        writer_a = psycopg2.connect(db_url)
        writer_b = psycopg2.connect(db_url)
        try:
            with writer_a.cursor() as cur:
                late_ids = _deposit(cur, d1, ua, ca, DEPOSIT_A)  # not committed yet
            with writer_b, writer_b.cursor() as cur:
                on_time_ids = _deposit(cur, d1, ub, cb, DEPOSIT_B)
            assert max(late_ids) < min(on_time_ids)  # ids are not commit-ordered

            # D1: the close sees B and not A: A's pair breaks by A's amount, and custody
            # holds A beyond the liabilities it counts
            assert close_date(d1) == 1
            writer_a.commit()
        finally:
            writer_a.close()
            writer_b.close()
        assert x.fetch(
            "select user_id, currency, difference from marts.recon_me_ledger"
            " where business_date = %s",
            (d1,),
        ) == [(ua, ca, DEPOSIT_A)]
        (custody,) = x.fetch(
            "select currency, difference from marts.recon_custody"
            " where business_date = %s and is_break",
            (d1,),
        )
        assert custody == (ca, DEPOSIT_A)
        counted_d1 = {r[0] for r in x.fetch(COUNTED, {"day": d1})}
        assert set(on_time_ids) <= counted_d1 and not set(late_ids) & counted_d1
        # D1's breaks per day as its seal covers them: one new break on each of the two
        # checks, first found on D1 (age 0); staking clean
        d1_breaks = [
            (d1, "custody", 1, 1, 0, 0),
            (d1, "me_ledger", 1, 1, 0, 0),
            (d1, "staking", 0, 0, 0, None),
        ]
        assert x.fetch(BREAKS_DAILY) == d1_breaks

        # D2: A's legs are counted once, listed as late under D2; nothing breaks
        assert close_date(d2) == 0
        # D1's rows unchanged; D2 carries neither break: both count as resolved on D2
        assert x.fetch(BREAKS_DAILY) == [
            *d1_breaks,
            (d2, "custody", 0, 0, 1, None),
            (d2, "me_ledger", 0, 0, 1, None),
            (d2, "staking", 0, 0, 0, None),
        ]
        assert x.fetch("select * from marts.recon_me_ledger where business_date = %s", (d2,)) == []
        late_rows = [
            (d2, late_ids[0], ua, ca, DEPOSIT_A, d1),
            (d2, late_ids[1], None, ca, -DEPOSIT_A, d1),
        ]
        assert (
            x.fetch(
                """select business_date, entry_id, user_id, currency, amount,
                          entry_business_date
                   from marts.late_ledger_entries order by entry_id"""
            )
            == late_rows
        )
        assert x.fetch(
            """select status, last_date, resolution, resolved_by from eod.recon_breaks
               where check_name = 'me_ledger' and user_id = %s and currency = %s""",
            (ua, ca),
        ) == [("resolved", d1, f"cleared by the close of {d2}", "eod")]
        # the carried balance holds A once: the engine's total, which has it once
        assert (
            x.scalar(
                """select ledger_total - me_total from intermediate.int_me_ledger_compared
               where business_date = %s and user_id = %s and currency = %s""",
                (d2, ua, ca),
            )
            == 0
        )

        # an entry dated D1 arriving now is the next close's: D2 counts what it counted
        counted_d2 = x.fetch(COUNTED, {"day": d2})
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            _deposit(cur, d1, ua, ca, Decimal("1"))
        assert x.fetch(COUNTED, {"day": d2}) == counted_d2
        # the seals' ledger digests still match what each close counted: D1's its own
        # entries without A, D2's A's legs among its own
        for day in (d1, d2):
            with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
                recomputed = digest(cur, LEDGER, day)
            conn.close()
            assert x.fetch(
                "select ledger_digest from eod.close_seals where business_date = %s", (day,)
            ) == [(recomputed,)]
        # and every seal, marts included, still matches its date's rows
        report = verify(db_url)
        assert report.ok, report.problems
        assert report.head is not None and report.head.business_date == d2
