"""The capture clients against the matching-engine, custody and JSON-RPC simulators
over HTTP, compared with what the generator stored for the simulators to serve."""

from __future__ import annotations

import dataclasses
import re
import urllib.request
from datetime import date

import pytest

from eod.capture import capture_custody, capture_registry, capture_staking
from eod.capture import http as capture_http
from eod.capture import registry as registry_capture
from eod.capture.custody import wallet_url
from eod.capture.ndjson import MAX_LINE_BYTES, numbered_blocks
from eod.capture.registry import snapshot_url
from eod.config import Settings
from eod.devkit.generate import Options, generate
from eod.devkit.simulators import start_simulators
from eod.devkit.simulators.registry import LONG_LINE_BYTES
from eod.errors import EodError, InputError, ServiceError
from eod.validation import ValidationFailed
from tests_py.capture_fixtures import query

START = date(2026, 5, 1)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(capture_http, "BACKOFF_S", 0.01)


@pytest.fixture
def exchange(db_url, tmp_path):
    base = Settings.from_env()
    opts = Options(
        seed=5,
        users=40,
        days=2,
        trades_per_day=80,
        start=START,
        cutover=base.cutover,
        registry_days=2,
    )
    generate(db_url, opts)
    sims = start_simulators(db_url)
    settings = dataclasses.replace(
        base,
        me_url=sims.me_url,
        custody_url=sims.custody_url,
        custody_token=sims.custody_token,
        staking_rpc_url=sims.rpc_url,
        staking_pool_address=sims.pool_address,
        state_dir=tmp_path / "state",
    )
    try:
        yield db_url, sims, settings, opts.dates
    finally:
        sims.stop()


def test_registry_custody_and_staking_match_what_the_simulators_serve(exchange):
    db_url, _, settings, dates = exchange
    for day in dates:
        summary = capture_registry(db_url, day, settings)
        expected = query(
            db_url,
            """select user_id, currency, total, locked, available from sim.me_registry
               where business_date = %s order by user_id, currency""",
            (day,),
        )
        landed = query(
            db_url,
            """select user_id, currency, total, locked, available from eod.me_balances
               where business_date = %s order by user_id, currency""",
            (day,),
        )
        assert landed == expected and summary["rows"] == len(expected) > 0
        [(sequence,)] = query(
            db_url, "select sequence from sim.me_snapshots where business_date = %s", (day,)
        )
        assert summary["sequence"] == sequence

    last = dates[-1]
    capture_staking(db_url, last, settings)
    assert query(
        db_url,
        "select total_staked_units from eod.onchain_staking where business_date = %s",
        (last,),
    ) == query(
        db_url, "select total_units from sim.onchain_staked where business_date = %s", (last,)
    )


def test_staking_backfill_reads_that_dates_total(exchange):
    db_url, _, settings, dates = exchange
    stored = dict(query(db_url, "select business_date, total_units from sim.onchain_staked"))
    assert stored[dates[0]] != stored[dates[-1]]  # else the test could not tell them apart
    capture_registry(db_url, dates[-1], settings)  # the chain's head is past the last date
    for day in (dates[0], dates[-1], dates[0]):
        capture_staking(db_url, day, settings)
        assert query(
            db_url,
            "select total_staked_units from eod.onchain_staking where business_date = %s",
            (day,),
        ) == [(stored[day],)]


CUSTODY_LANDED = """
    select currency, coin, wallet_id, balance_units from eod.custody_balances
    where business_date = %s and balance_units < 2 ^ 53 order by currency, wallet_id
"""
CUSTODY_STORED = """
    select currency, coin, wallet_id, balance_units from sim.custody_wallet_balances
    where business_date = %s and balance_units < 2 ^ 53 order by currency, wallet_id
"""


def test_custody_matches_what_the_simulator_stores(exchange):
    db_url, _, settings, dates = exchange
    last = dates[-1]
    capture_registry(db_url, last, settings)  # custody answers as of the last snapshot served
    summary = capture_custody(db_url, last, settings)
    stored = query(db_url, CUSTODY_STORED, (last,))
    assert query(db_url, CUSTODY_LANDED, (last,)) == stored and stored
    assert (
        summary["wallets"]
        == query(
            db_url,
            "select count(*) from sim.custody_wallet_balances where business_date = %s",
            (last,),
        )[0][0]
    )


def test_custody_large_balances_are_exact(exchange):
    db_url, _, settings, dates = exchange
    last = dates[-1]
    capture_registry(db_url, last, settings)
    capture_custody(db_url, last, settings)
    everything = CUSTODY_LANDED.replace("and balance_units < 2 ^ 53", "")
    assert query(db_url, everything, (last,)) == query(
        db_url, CUSTODY_STORED.replace("and balance_units < 2 ^ 53", ""), (last,)
    )


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        ("malformed", InputError, "malformed JSON"),
        ("negative", ValidationFailed, "non_negative"),
        ("duplicate", ValidationFailed, "unique_user_currency"),
        ("unknown-currency", ValidationFailed, "known_currency"),
    ],
)
def test_engine_faults_fail_the_capture_and_write_nothing(exchange, fault, error, text):
    db_url, sims, settings, dates = exchange
    sims.me_fault = fault
    with pytest.raises(error) as err:
        capture_registry(db_url, dates[-1], settings)
    assert text in str(err.value) and "\n" not in str(err.value)
    assert query(db_url, "select count(*) from eod.me_balances") == [(0,)]


def test_custody_failures(exchange):
    db_url, sims, settings, dates = exchange
    wrong = dataclasses.replace(settings, custody_token="not-the-token")
    with pytest.raises(ServiceError, match="HTTP 401") as err:
        capture_custody(db_url, dates[-1], wrong)
    assert "not-the-token" not in str(err.value)
    sims.custody_fail = True
    with pytest.raises(ServiceError, match="failed after 3 tries .*HTTP 500"):
        capture_custody(db_url, dates[-1], settings)
    assert query(db_url, "select count(*) from eod.custody_balances") == [(0,)]


# Faults on the wire and in the registry, each against the simulator that injects it:
# (system, fault) -> the one line the capture fails with, and nothing written.
# {url} is the request's URL; the figures in the messages are computed in the test.


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setattr(capture_http, "TIMEOUT_S", 0.3)
    monkeypatch.setattr(registry_capture, "READ_TIMEOUT_S", 0.5)


def _captured_rows(db_url: str) -> list[tuple]:
    return query(
        db_url,
        """select (select count(*) from eod.me_balances), (select count(*) from
                  eod.me_balances_incoming), (select count(*) from eod.custody_balances),
                  (select count(*) from eod.onchain_staking)""",
    )


ENGINE_WIRE = {
    "drop": ServiceError(
        "matching engine failed after 3 tries for {url}: the connection was closed before a reply"
    ),
    "truncated": ServiceError(
        "matching engine registry stream from {url} broke off after line 11: the reply was cut"
        " short (the connection closed in the middle of it)"
    ),
    "stall": ServiceError(
        "matching engine registry stream from {url} broke off after line 1: nothing received"
        " for 0.5 s (timed out)"
    ),
    "long-line": InputError(
        "registry line 2 from {url} is longer than 64 KiB: refused without reading it whole"
    ),
    "empty": InputError(
        "registry for {day} from {url} holds no balance line: an empty registry is refused"
    ),
}


@pytest.mark.parametrize("fault", sorted(ENGINE_WIRE))
def test_engine_fault_is_one_line_naming_it(exchange, short_timeouts, fault):
    db_url, sims, settings, dates = exchange
    day = dates[-1]
    url = snapshot_url(sims.me_url, settings.cutover.window(day)[1])
    sims.me_fault = fault
    expected = ENGINE_WIRE[fault]
    with pytest.raises(type(expected)) as err:
        capture_registry(db_url, day, settings)
    assert str(err.value) == str(expected).format(url=url, day=day)
    assert _captured_rows(db_url) == [(0, 0, 0, 0)]


def test_a_40_mb_line_is_not_read_whole(exchange):
    """The long line is refused once 64 KiB of it arrived: the capture read at most a
    block past that, never the 40 MB (counted on the stream it read)."""
    _, sims, settings, dates = exchange
    sims.me_fault = "long-line"
    url = snapshot_url(sims.me_url, settings.cutover.window(dates[-1])[1])
    with urllib.request.urlopen(url) as response:
        counted = _Counting(response)
        with pytest.raises(InputError, match="longer than 64 KiB"):
            for _ in numbered_blocks(counted, url):
                pass
    assert counted.bytes_read <= MAX_LINE_BYTES + 2 * 65536 < LONG_LINE_BYTES


class _Counting:
    def __init__(self, stream) -> None:
        self._stream = stream
        self.bytes_read = 0

    def read1(self, size: int) -> bytes:
        data = self._stream.read1(size)
        self.bytes_read += len(data)
        return data

    read = read1


def test_engine_sequence_lower_than_the_previous_dates_is_refused(exchange):
    db_url, sims, settings, dates = exchange
    capture_registry(db_url, dates[0], settings)
    [(first,)] = query(
        db_url, "select sequence from sim.me_snapshots where business_date = %s", (dates[0],)
    )
    landed = _captured_rows(db_url)
    sims.me_fault = "sequence-back"
    with pytest.raises(InputError) as err:
        capture_registry(db_url, dates[1], settings)
    assert str(err.value) == (
        f"registry line 1: sequence {first - 1} is lower than {first}, the sequence of"
        f" {dates[0]}'s registry (the engine's sequence never goes back)"
    )
    assert _captured_rows(db_url) == landed
    sims.me_fault = None  # the same date with its own sequence lands
    capture_registry(db_url, dates[1], settings)


def test_engine_user_the_platform_does_not_know_is_refused(exchange):
    db_url, sims, settings, dates = exchange
    [(user_id, currency)] = query(
        db_url,
        """select user_id, currency from sim.me_registry where business_date = %s
           order by user_id, currency collate "C" limit 1""",
        (dates[-1],),
    )
    assert query(db_url, "select count(*) from exchange.users where user_id = 9999999999") == [(0,)]
    sims.me_fault = "unknown-user"
    with pytest.raises(ValidationFailed) as err:
        capture_registry(db_url, dates[-1], settings)
    message = str(err.value)
    assert "\n" not in message
    assert f"known_user: 1 rows (first: line_no=3 user_id=9999999999 currency={currency})" in (
        message
    )
    assert _captured_rows(db_url) == [(0, 0, 0, 0)]
    assert user_id != 9999999999


REPLY_FAULT_LINES = {
    "drop": "{what} failed after 3 tries for {url}: the connection was closed before a reply",
    "truncated": "{what} failed after 3 tries for {url}: the reply was cut short"
    " ({half} bytes read, {rest} more expected)",
    "stall": "{what} failed after 3 tries for {url}: nothing received for 0.3 s (timed out)",
    "malformed": "{what} answered something that is not JSON for {url} (a malformed reply)",
}


@pytest.mark.parametrize("fault", sorted(REPLY_FAULT_LINES))
def test_custody_fault_is_one_line_naming_it(exchange, short_timeouts, fault):
    db_url, sims, settings, _ = exchange
    [(coin, wallet_id)] = query(
        db_url,
        "select coin, wallet_id from exchange.custody_wallets order by currency, wallet_id limit 1",
    )
    url = wallet_url(sims.custody_url, coin, wallet_id)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {sims.custody_token}"})
    with urllib.request.urlopen(request) as response:  # the clean reply, to size the cut
        length = len(response.read())
    sims.custody_fault = fault
    with pytest.raises(EodError) as err:
        capture_custody(db_url, dates_last(exchange), settings)
    assert str(err.value) == REPLY_FAULT_LINES[fault].format(
        what="custody", url=url, half=length // 2, rest=length - length // 2
    )
    assert _captured_rows(db_url) == [(0, 0, 0, 0)]


@pytest.mark.parametrize("fault", sorted(REPLY_FAULT_LINES))
def test_rpc_fault_is_one_line_naming_it(exchange, short_timeouts, fault):
    db_url, sims, settings, _ = exchange
    sims.rpc_fault = fault
    with pytest.raises(EodError) as err:
        capture_staking(db_url, dates_last(exchange), settings)
    message = str(err.value)
    if fault == "truncated":  # the reply's length depends on the request's id
        assert re.fullmatch(
            re.escape(f"staking RPC failed after 3 tries for {sims.rpc_url}: the reply was cut")
            + r" short \((\d+) bytes read, (\d+) more expected\)",
            message,
        )
    else:
        assert message == REPLY_FAULT_LINES[fault].format(what="staking RPC", url=sims.rpc_url)
    assert _captured_rows(db_url) == [(0, 0, 0, 0)]


def dates_last(exchange):
    return exchange[3][-1]
