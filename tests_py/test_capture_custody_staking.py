"""Custody (BitGo REST with a bearer token) and staking (JSON-RPC eth_call) captures."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime

import psycopg2
import pytest

from eod.business_date import Cutover
from eod.capture import capture_custody, capture_staking
from eod.capture import http as capture_http
from eod.config import Settings
from eod.errors import ConfigError, InputError, ServiceError
from eod.validation import ValidationFailed
from tests_py.capture_fixtures import query, seed_currencies, upstream_server  # noqa: F401

D = date(2026, 3, 14)
POOL = "0x" + "ab" * 20
WALLETS = [("BTC", "btc", "w-btc-1"), ("BTC", "btc", "w-btc-2"), ("ETH", "eth", "w-eth-1")]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(capture_http, "BACKOFF_S", 0.01)


@pytest.fixture
def db(db_url):
    seed_currencies(db_url)
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.executemany(
            "insert into exchange.custody_wallets (currency, coin, wallet_id) values (%s, %s, %s)",
            WALLETS,
        )
    conn.close()
    return db_url


def settings(base: str, tmp_path, token: str = "s3cret-token") -> Settings:
    return dataclasses.replace(
        Settings.from_env(),
        custody_url=base,
        custody_token=token,
        staking_rpc_url=base + "/rpc",
        staking_pool_address=POOL,
        state_dir=tmp_path / "state",
    )


def custody_rows(db_url: str) -> list[tuple]:
    return query(
        db_url,
        """select currency, coin, wallet_id, balance_units from eod.custody_balances
           where business_date = %s order by currency, wallet_id""",
        (D,),
    )


def answer_all(state) -> None:
    state.wallets[("btc", "w-btc-1")] = {"id": "w-btc-1", "balanceString": "150000000"}
    state.wallets[("btc", "w-btc-2")] = {"id": "w-btc-2", "balanceString": "5"}
    state.wallets[("eth", "w-eth-1")] = {
        "id": "w-eth-1",
        "balanceString": "123456789012345678901234567890",
    }


def test_custody_capture_one_row_per_wallet(db, upstream, tmp_path):
    state, base = upstream
    answer_all(state)
    summary = capture_custody(db, D, settings(base, tmp_path))
    assert custody_rows(db) == [
        ("BTC", "btc", "w-btc-1", 150000000),
        ("BTC", "btc", "w-btc-2", 5),
        ("ETH", "eth", "w-eth-1", 123456789012345678901234567890),
    ]
    assert summary["wallets"] == 3
    assert summary["units_per_currency"] == {
        "BTC": "150000005",
        "ETH": "123456789012345678901234567890",
    }
    paths = sorted(r[1] for r in state.requests)
    assert paths == [
        "/api/v2/btc/wallet/w-btc-1",
        "/api/v2/btc/wallet/w-btc-2",
        "/api/v2/eth/wallet/w-eth-1",
    ]
    assert {r[2]["Authorization"] for r in state.requests} == {"Bearer s3cret-token"}
    kept = query(db, "select suite, success from eod.validation_results")
    assert kept == [("custody_balances", True)]


def test_custody_recapture_replaces_the_date(db, upstream, tmp_path):
    state, base = upstream
    answer_all(state)
    capture_custody(db, D, settings(base, tmp_path))
    state.wallets[("btc", "w-btc-2")] = {"balanceString": "6"}
    capture_custody(db, D, settings(base, tmp_path))
    assert [r[3] for r in custody_rows(db)] == [150000000, 6, 123456789012345678901234567890]


def test_custody_401_fails_at_once_without_the_token(db, upstream, tmp_path):
    state, base = upstream
    answer_all(state)
    capture_custody(db, D, settings(base, tmp_path))
    before = custody_rows(db)
    state.requests.clear()
    with pytest.raises(ServiceError) as err:
        capture_custody(db, D, settings(base, tmp_path, token="wrong-token-xyz"))
    assert "custody answered HTTP 401" in str(err.value)
    assert "wrong-token-xyz" not in str(err.value) and "\n" not in str(err.value)
    assert len(state.requests) == 1  # never retried
    assert custody_rows(db) == before


def test_custody_500_retried_then_fails(db, upstream, tmp_path):
    state, base = upstream
    answer_all(state)
    state.status_queue = [500, 500, 500]
    with pytest.raises(ServiceError, match="custody failed after 3 tries .*HTTP 500"):
        capture_custody(db, D, settings(base, tmp_path))
    assert custody_rows(db) == []


def test_custody_transient_500_recovers(db, upstream, tmp_path):
    state, base = upstream
    answer_all(state)
    state.status_queue = [502]
    capture_custody(db, D, settings(base, tmp_path))
    assert len(custody_rows(db)) == 3


def test_custody_missing_wallet_fails(db, upstream, tmp_path):
    state, base = upstream
    answer_all(state)
    del state.wallets[("eth", "w-eth-1")]
    with pytest.raises(ServiceError, match="HTTP 404"):
        capture_custody(db, D, settings(base, tmp_path))
    assert custody_rows(db) == []


@pytest.mark.parametrize("value", [None, 1.5, "1.5", "abc", 150000000])
def test_custody_balance_must_be_an_integer_string(db, upstream, tmp_path, value):
    state, base = upstream
    answer_all(state)
    state.wallets[("btc", "w-btc-2")] = {"balanceString": value}
    with pytest.raises(InputError, match="custody wallet btc/w-btc-2: balanceString must be"):
        capture_custody(db, D, settings(base, tmp_path))
    assert custody_rows(db) == []


def test_custody_negative_balance_fails_validation(db, upstream, tmp_path):
    state, base = upstream
    answer_all(state)
    state.wallets[("btc", "w-btc-2")] = {"balanceString": "-3"}
    with pytest.raises(ValidationFailed) as err:
        capture_custody(db, D, settings(base, tmp_path))
    assert "non_negative: 1 rows (first: currency=BTC coin=btc wallet_id=w-btc-2" in str(err.value)
    assert custody_rows(db) == []
    assert query(db, "select count(*) from eod.custody_balances_incoming") == [(0,)]


def test_custody_without_token_is_a_config_error(db, upstream, tmp_path):
    _, base = upstream
    with pytest.raises(ConfigError, match="EOD_CUSTODY_TOKEN"):
        capture_custody(db, D, settings(base, tmp_path, token=None))


def staking_rows(db_url: str) -> list[tuple]:
    return query(
        db_url,
        "select business_date, total_staked_units from eod.onchain_staking order by 1",
    )


END_OF_D = int(datetime(2026, 3, 15, tzinfo=UTC).timestamp())  # D's end with 00:00 UTC


def eth_calls(state) -> list[dict]:
    return [body for _, _, body in state.requests if body["method"] == "eth_call"]


def test_staking_capture_parses_uint256(db, upstream, tmp_path):
    state, base = upstream
    state.block_times = [END_OF_D - 30, END_OF_D - 12, END_OF_D]
    units = 1234 * 10**18 + 5
    state.rpc_reply = {"result": "0x" + format(units, "064x")}
    summary = capture_staking(db, D, settings(base, tmp_path))
    assert staking_rows(db) == [(D, units)]
    assert summary == {"total_staked_units": str(units), "block": 1}
    [call] = eth_calls(state)
    assert state.requests[0][:2] == ("POST", "/rpc")
    assert call["jsonrpc"] == "2.0"
    assert call["params"] == [{"to": POOL, "data": "0x817b1cd2"}, "0x1"]
    state.rpc_reply = {"result": "0x0"}
    capture_staking(db, D, settings(base, tmp_path))
    assert staking_rows(db) == [(D, 0)]


def last_block_before(times: list[int], end: int) -> int:
    """The answer by a linear scan, to compare the binary search with."""
    return max(n for n, t in enumerate(times) if t < end)


@pytest.mark.parametrize(
    ("times", "block"),
    [
        # a block stamped exactly at the end of D belongs to D+1
        ([END_OF_D - 24, END_OF_D - 12, END_OF_D, END_OF_D + 12], 1),
        ([END_OF_D - 24, END_OF_D - 1, END_OF_D + 1], 1),
        # the head stamped exactly at the end: the block before it
        ([END_OF_D - 5, END_OF_D], 0),
        # equal timestamps: the later of them
        ([END_OF_D - 9, END_OF_D - 3, END_OF_D - 3, END_OF_D, END_OF_D], 2),
        ([END_OF_D - 86400 * 400 + 12 * n for n in range(1000)] + [END_OF_D + 7], 999),
    ],
)
def test_staking_reads_the_last_block_before_the_end_of_d(db, upstream, tmp_path, times, block):
    state, base = upstream
    state.block_times = times
    state.rpc_reply = {"result": "0x2a"}
    summary = capture_staking(db, D, settings(base, tmp_path))
    assert summary["block"] == block == last_block_before(times, END_OF_D)
    [call] = eth_calls(state)
    assert call["params"][1] == hex(block)


def test_staking_binary_search_agrees_with_a_scan_on_random_chains(db, upstream, tmp_path):
    state, base = upstream
    state.rpc_reply = {"result": "0x1"}
    rng = random.Random(13)
    for _ in range(25):
        length = rng.randint(2, 400)
        times = sorted(END_OF_D + rng.randint(-5000, 5000) for _ in range(length))
        times[0] = min(times[0], END_OF_D - 1)
        times[-1] = max(times[-1], END_OF_D)
        state.block_times = times
        state.requests.clear()
        summary = capture_staking(db, D, settings(base, tmp_path))
        assert summary["block"] == last_block_before(times, END_OF_D), times
        # a binary search: about log2(length) block reads, never a walk along the chain
        reads = sum(1 for _, _, b in state.requests if b["method"] == "eth_getBlockByNumber")
        assert reads <= length.bit_length() + 3


def test_staking_end_of_d_in_the_cutover_zone(db, upstream, tmp_path):
    state, base = upstream
    # 16:00 New York on 2026-03-14 (EDT since 03-08) is 20:00 UTC
    end = int(datetime(2026, 3, 14, 20, 0, tzinfo=UTC).timestamp())
    state.block_times = [end - 24, end - 12, end, end + 12]
    state.rpc_reply = {"result": "0x7"}
    ny = dataclasses.replace(
        settings(base, tmp_path), cutover=Cutover.parse("16:00 America/New_York")
    )
    assert capture_staking(db, D, ny)["block"] == 1


def test_staking_head_before_the_end_of_d_is_refused(db, upstream, tmp_path):
    state, base = upstream
    state.block_times = [END_OF_D - 24, END_OF_D - 12]
    state.rpc_reply = {"result": "0x7"}
    with pytest.raises(ServiceError) as err:
        capture_staking(db, D, settings(base, tmp_path))
    assert str(err.value) == (
        f"staking RPC head block 1 (timestamp {END_OF_D - 12}) is before the end of the date"
        " (2026-03-15T00:00:00+00:00): the chain has not reached it yet"
    )
    assert eth_calls(state) == [] and staking_rows(db) == []


def test_staking_jsonrpc_error_fails_clearly(db, upstream, tmp_path):
    state, base = upstream
    state.block_times = [END_OF_D - 12, END_OF_D]
    state.rpc_reply = {"error": {"code": -32000, "message": "execution reverted"}}
    with pytest.raises(ServiceError, match="staking RPC error -32000: execution reverted"):
        capture_staking(db, D, settings(base, tmp_path))
    assert staking_rows(db) == []


@pytest.mark.parametrize("result", ["0x", "1234", 5, "0x" + "f" * 65, None])
def test_staking_bad_result_is_refused(db, upstream, tmp_path, result):
    state, base = upstream
    state.block_times = [END_OF_D - 12, END_OF_D]
    state.rpc_reply = {"result": result}
    with pytest.raises(InputError, match="not a uint256"):
        capture_staking(db, D, settings(base, tmp_path))
    assert staking_rows(db) == []


def test_staking_5xx_is_retried(db, upstream, tmp_path):
    state, base = upstream
    state.block_times = [END_OF_D - 12, END_OF_D]
    state.rpc_reply = {"result": "0x10"}
    state.status_queue = [503]
    capture_staking(db, D, settings(base, tmp_path))
    assert staking_rows(db) == [(D, 16)]


def test_custody_timeout_is_retried_then_fails_in_one_line(db, tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(capture_http, "TIMEOUT_S", 0.3)
    silent = socket.socket()  # accepts connections (backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ServiceError) as err:
            capture_custody(db, D, settings(base, tmp_path))
    finally:
        silent.close()
    message = str(err.value)
    assert message.startswith("custody failed after 3 tries for ") and "timed out" in message
    assert "\n" not in message and "s3cret-token" not in message
    assert custody_rows(db) == []
