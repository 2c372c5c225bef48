"""Admin adjustments: one balanced journal, idempotent by key, every refusal writes nothing."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from eod.accounts.adjustments import adjust_balance
from eod.business_date import Cutover
from eod.errors import InputError
from tests_py.accounts_fixtures import connect, fetch, post_journal, setup_platform
from tests_py.conftest import run_eod

UTC_MIDNIGHT = Cutover.parse("00:00 UTC")


def ledger(url):
    return fetch(
        url,
        """select journal_id::text, user_id, account, currency, amount, reference_type,
                  reference_id, reason, business_date, effective_at, created_by
           from exchange.ledger_entries order by entry_id""",
    )


def everything(url):
    return ledger(url), fetch(url, "select * from eod.outbox order by seq")


def adjust(url, **overrides):
    args = dict(
        user_id=1,
        currency="BTC",
        amount="1.5",
        reason="goodwill credit",
        key="adj-1",
        actor="admin:alice",
        cutover=UTC_MIDNIGHT,
    )
    args.update(overrides)
    return adjust_balance(url, **args)


def ny_business_date(instant: datetime):
    """16:00 America/New_York: an instant at or after 16:00 local belongs to the next day."""
    local = instant.astimezone(ZoneInfo("America/New_York"))
    return local.date() + timedelta(days=1) if local.hour >= 16 else local.date()


def test_adjustment_posts_one_balanced_journal_and_an_event(db_url):
    setup_platform(db_url, {1: "active"})
    cutover = Cutover.parse("16:00 America/New_York")
    outcome = adjust(db_url, amount="1.50000000", cutover=cutover)
    assert outcome.created
    rows = ledger(db_url)
    assert len(rows) == 2
    user, house = rows
    effective_at = user[9]
    assert outcome.business_date == ny_business_date(effective_at)
    common = ("admin_adjustment", "adj-1", "goodwill credit", outcome.business_date)
    assert user[:4] == (str(outcome.journal_id), 1, "user", "BTC")
    assert house[:4] == (str(outcome.journal_id), None, "house:adjustments", "BTC")
    assert (user[4], house[4]) == (Decimal("1.5"), Decimal("-1.5"))
    assert user[5:9] == common and house[5:9] == common
    assert user[10] == house[10] == "admin:alice"
    assert abs(effective_at - datetime.now(UTC)) < timedelta(minutes=5)

    [(subject, payload)] = fetch(db_url, "select subject, payload from eod.outbox")
    assert subject == "account.balance_adjusted"
    assert payload == {
        "event_id": str(outcome.event_id),
        "journal_id": str(outcome.journal_id),
        "user_id": 1,
        "currency": "BTC",
        "amount": "1.5",
        "reason": "goodwill credit",
        "idempotency_key": "adj-1",
        "actor": "admin:alice",
        "business_date": outcome.business_date.isoformat(),
        "effective_at": effective_at.isoformat(),
    }


def test_same_key_same_content_is_a_no_op_other_content_is_refused(db_url):
    setup_platform(db_url, {1: "active", 2: "active"})
    first = adjust(db_url)
    before = everything(db_url)
    again = adjust(db_url, amount=Decimal("1.500"), actor="admin:bob")
    assert (again.created, again.journal_id) == (False, first.journal_id)
    assert everything(db_url) == before
    for change in (
        {"amount": "1.6"},
        {"user_id": 2},
        {"currency": "ETH"},
        {"reason": "another reason"},
    ):
        with pytest.raises(InputError, match="already used for another adjustment"):
            adjust(db_url, **change)
        assert everything(db_url) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reason": "   "}, "needs a reason"),
        ({"key": ""}, "idempotency key"),
        ({"amount": "0.000000001"}, "BTC has 8 decimals"),
        ({"currency": "USDT", "amount": "1.0000001"}, "USDT has 6 decimals"),
        ({"user_id": 99}, "unknown user 99"),
        ({"currency": "DOGE"}, "unknown currency 'DOGE'"),
        ({"user_id": 3}, "account 3 is closed"),
        ({"amount": "-2.00000001"}, "below zero"),
        ({"user_id": 2, "amount": "-0.00000001"}, "below zero"),
        ({"amount": 1.5}, "not a float"),
        ({"amount": "0"}, "must not be zero"),
        ({"amount": "1,5"}, "not a decimal number"),
        ({"amount": "NaN"}, "not a finite number"),
        ({"amount": "1e30"}, "too large"),
    ],
)
def test_every_refusal_writes_nothing(db_url, change, message):
    setup_platform(db_url, {1: "active", 2: "suspended", 3: "active"})
    post_journal(db_url, 1, "BTC", "2")
    with contextlib.closing(connect(db_url)) as conn, conn, conn.cursor() as cur:
        cur.execute("select set_config('eod.actor', 'ops', true)")
        cur.execute("select set_config('eod.reason', 'customer left', true)")
        cur.execute("update exchange.users set status = 'closed' where user_id = 3")
    before = everything(db_url)
    with pytest.raises(InputError, match=message):
        adjust(db_url, **change)
    assert everything(db_url) == before


def test_a_debit_down_to_exactly_zero_is_allowed(db_url):
    setup_platform(db_url, {1: "suspended"})
    post_journal(db_url, 1, "ETH", "0.000000000000000003")
    outcome = adjust(db_url, currency="ETH", amount="-0.000000000000000003", key="adj-eth")
    assert outcome.created
    [(balance,)] = fetch(
        db_url,
        "select sum(amount) from exchange.ledger_entries where user_id = 1 and account = 'user'",
    )
    assert balance == 0


def test_cli_adjust(db_url, eod_env):
    setup_platform(db_url, {5: "active"})
    env = dict(eod_env, EOD_CUTOVER="00:00 UTC")
    args = ["adjust", "--user", "5", "--currency", "USDT", "--amount", "250.25"]
    out = run_eod([*args, "--reason", "fee refund", "--key", "T-1", "--actor", "ops"], env)
    assert out.stdout.startswith("adjustment T-1 posted: journal ")
    out = run_eod([*args, "--reason", "fee refund", "--key", "T-1", "--actor", "ops"], env)
    assert "already posted" in out.stdout
    refused = run_eod([*args, "--reason", "other", "--key", "T-1"], env, check=False)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith("eod adjust: key 'T-1' was already used")
    rows = ledger(db_url)
    assert [(r[2], r[4]) for r in rows] == [
        ("user", Decimal("250.25")),
        ("house:adjustments", Decimal("-250.25")),
    ]
    assert rows[0][8] == rows[0][9].astimezone(UTC).date()  # 00:00 UTC cutover


@pytest.mark.parametrize("second_amount", ["1.5", "2"])
def test_two_sessions_with_one_key_post_one_journal(db_url, second_amount):
    setup_platform(db_url, {1: "active"})
    barrier = threading.Barrier(2)
    results: list = []

    def run(amount):
        barrier.wait()
        try:
            results.append(adjust(db_url, amount=amount))
        except InputError as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in ("1.5", second_amount)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    created = [r for r in results if not isinstance(r, InputError) and r.created]
    assert len(created) == 1
    other = next(r for r in results if r is not created[0])
    if second_amount == "1.5":
        assert other.created is False and other.journal_id == created[0].journal_id
    else:
        assert isinstance(other, InputError) and "already used" in str(other)
    assert len(ledger(db_url)) == 2
    assert len(fetch(db_url, "select 1 from eod.outbox")) == 1
