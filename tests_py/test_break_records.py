"""Break records kept by the close: a break keeps its id while it persists and ages,
clears when a close no longer finds it, and is new when found again after an operator
resolved it. Each expected record is written out by hand from the recon rows."""

from __future__ import annotations

from decimal import Decimal

from eod.breaks.actions import resolve
from eod.breaks.records import record_breaks
from tests_py.breaks_fixtures import D1, D2, D3, cursor, events, fetch, platform, recon

BREAK = (
    "select check_name, user_id, currency, first_date, last_date, difference, status,"
    " resolved_by, resolution from eod.recon_breaks where break_id = %s"
)


def _record(url, day):
    with cursor(url) as cur:
        return record_breaks(cur, day)


def _ids(url):
    return dict(
        (
            (check, user, currency),
            break_id,
        )
        for break_id, check, user, currency in fetch(
            url, "select break_id, check_name, user_id, currency from eod.recon_breaks"
        )
    )


def test_a_break_persisting_keeps_its_id_and_ages_and_one_that_clears_is_resolved(db_url):
    platform(db_url, {7: "active", 8: "active"})
    recon(db_url, D1, me_ledger={(7, "BTC"): "0.5", (8, "ETH"): "-2"}, custody={"BTC": "1"})
    assert _record(db_url, D1) == {"breaks_opened": 3, "breaks_aged": 0, "breaks_cleared": 0}
    ids = _ids(db_url)
    assert set(ids) == {("me_ledger", 7, "BTC"), ("me_ledger", 8, "ETH"), ("custody", None, "BTC")}

    # D2: user 7's BTC break persists with another difference, the others are gone,
    # and the staking check breaks with the on-chain total missing
    recon(db_url, D2, me_ledger={(7, "BTC"): "0.25"}, staking=None)
    assert _record(db_url, D2) == {"breaks_opened": 1, "breaks_aged": 1, "breaks_cleared": 2}
    persisting = fetch(db_url, BREAK, (ids[("me_ledger", 7, "BTC")],))
    assert persisting == [("me_ledger", 7, "BTC", D1, D2, Decimal("0.25"), "open", None, None)]
    for key in (("me_ledger", 8, "ETH"), ("custody", None, "BTC")):
        (row,) = fetch(db_url, BREAK, (ids[key],))
        assert row[3:] == (D1, D1, row[5], "resolved", "eod", "cleared by the close of 2026-11-02")
    (staking,) = fetch(
        db_url,
        "select first_date, last_date, difference, status from eod.recon_breaks"
        " where check_name = 'staking'",
    )
    assert staking == (D2, D2, None, "open")

    # D3: still breaking, one more date of age; same id
    recon(db_url, D3, me_ledger={(7, "BTC"): "0.25"}, staking=None)
    assert _record(db_url, D3) == {"breaks_opened": 0, "breaks_aged": 2, "breaks_cleared": 0}
    assert fetch(db_url, BREAK, (ids[("me_ledger", 7, "BTC")],))[0][3:5] == (D1, D3)
    assert len(_ids(db_url)) == 4

    # every change audited: who, what, why, for which close
    actions = fetch(
        db_url,
        "select break_id, action, actor, reason, business_date, difference"
        " from eod.recon_break_actions order by action_id",
    )
    b7 = ids[("me_ledger", 7, "BTC")]
    assert [a for a in actions if a[0] == b7] == [
        (b7, "opened", "eod", "found by the close of 2026-11-01", D1, Decimal("0.5")),
        (b7, "aged", "eod", "found again by the close of 2026-11-02", D2, Decimal("0.25")),
        (b7, "aged", "eod", "found again by the close of 2026-11-03", D3, Decimal("0.25")),
    ]
    b8 = ids[("me_ledger", 8, "ETH")]
    assert [a[1:5] for a in actions if a[0] == b8] == [
        ("opened", "eod", "found by the close of 2026-11-01", D1),
        ("resolved", "eod", "cleared by the close of 2026-11-02", D2),
    ]

    # openings and clearings are published; aging is audited only
    published = events(db_url)
    assert sorted((s, p["break_id"]) for s, p in published) == sorted(
        [("eod.break.opened", b) for b in _ids(db_url).values()]
        + [
            ("eod.break.resolved", ids[("me_ledger", 8, "ETH")]),
            ("eod.break.resolved", ids[("custody", None, "BTC")]),
        ]
    )
    opened7 = next(p for s, p in published if s == "eod.break.opened" and p["break_id"] == b7)
    assert (opened7["user_id"], opened7["currency"], opened7["difference"]) == (7, "BTC", "0.5")
    assert opened7["business_date"] == "2026-11-01" and opened7["event_id"]


def test_recording_a_date_twice_changes_nothing(db_url):
    platform(db_url, {7: "active"})
    recon(db_url, D1, me_ledger={(7, "BTC"): "1"}, custody={"BTC": "1"})
    recon(db_url, D2, me_ledger={(7, "BTC"): "2"})
    _record(db_url, D1)
    _record(db_url, D2)
    before = fetch(db_url, "select * from eod.recon_breaks order by break_id")
    outbox = fetch(db_url, "select count(*) from eod.outbox")
    assert _record(db_url, D2) == {"breaks_opened": 0, "breaks_aged": 0, "breaks_cleared": 0}
    assert fetch(db_url, "select * from eod.recon_breaks order by break_id") == before
    assert fetch(db_url, "select count(*) from eod.outbox") == outbox


def test_a_break_found_again_after_an_operator_resolved_it_is_new(db_url):
    platform(db_url, {7: "active"})
    recon(db_url, D1, me_ledger={(7, "BTC"): "1"})
    recon(db_url, D2, me_ledger={(7, "BTC"): "1"})
    _record(db_url, D1)
    (first,) = _ids(db_url).values()
    with cursor(db_url) as cur:
        resolve(cur, first, "alice", "ledger fixed by journal 42")
    assert _record(db_url, D2) == {"breaks_opened": 1, "breaks_aged": 0, "breaks_cleared": 0}
    rows = fetch(
        db_url,
        "select break_id, first_date, last_date, status, resolved_by from eod.recon_breaks"
        " order by break_id",
    )
    assert rows[0] == (first, D1, D1, "resolved", "alice")
    assert rows[1][0] != first and rows[1][1:] == (D2, D2, "open", None)


def test_a_clean_date_opens_nothing(db_url):
    platform(db_url, {})
    recon(db_url, D1)
    assert _record(db_url, D1) == {"breaks_opened": 0, "breaks_aged": 0, "breaks_cleared": 0}
    assert fetch(db_url, "select count(*) from eod.recon_breaks") == [(0,)]
