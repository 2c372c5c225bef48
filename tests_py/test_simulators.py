"""The simulators over loopback HTTP and NATS, against a generated exchange."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import date
from decimal import Decimal
from urllib.parse import urlparse

import nats
import psycopg2
import pytest

from eod.business_date import Cutover
from eod.devkit.generate import generate
from eod.devkit.generate.model import Options
from eod.devkit.simulators import FAILING_WALLET_ID, start_simulators
from tests_py.conftest import PROJECT_DIR, run_eod

AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")
TOKEN = "test-custody-token"
POOL = "0x1111111111111111111111111111111111111111"
LAST_END = "2026-11-03T00:00:00Z"  # end of the last generated business date


def query(url: str, sql: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def exchange(db_url):
    opts = Options(
        seed=11,
        users=1500,
        days=2,
        trades_per_day=4000,
        start=date(2026, 11, 1),
        cutover=Cutover.parse("00:00 UTC"),
        registry_days=2,
    )
    generate(db_url, opts)
    return db_url


@pytest.fixture
def sims(exchange, nats_url):
    handle = start_simulators(exchange, nats_url=nats_url, custody_token=TOKEN, pool_address=POOL)
    yield handle
    handle.stop()


def snapshot(handle, as_of: str) -> list[dict]:
    with urllib.request.urlopen(f"{handle.me_url}/v1/registry/snapshot?as_of={as_of}") as r:
        assert r.headers["Content-Type"] == "application/x-ndjson"
        return [json.loads(line) for line in r.read().decode().splitlines()]


def get(url: str, token: str | None = TOKEN) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def rpc(handle, method: str, params=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []})
    request = urllib.request.Request(
        handle.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as r:
        reply = json.loads(r.read())
    assert reply["jsonrpc"] == "2.0" and reply["id"] == 7
    return reply


def test_engine_streams_thousands_of_rows_in_the_contract_shape(sims, exchange):
    parsed = urlparse(sims.me_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.request("GET", "/v1/registry/snapshot?as_of=2026-11-02T00:00:00%2B00:00")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Transfer-Encoding") == "chunked"
    header = json.loads(response.readline())
    rows = [json.loads(line) for line in response.read().decode().splitlines()]
    conn.close()
    expected_sequence = query(
        exchange,
        """select (select count(*) from exchange.trades where executed_at < '2026-11-02')
                + (select count(distinct journal_id) from exchange.ledger_entries
                   where reference_type <> 'trade' and effective_at < '2026-11-02')""",
    )[0][0]
    assert header == {"as_of": "2026-11-02T00:00:00Z", "sequence": expected_sequence}
    assert len(rows) > 2000
    for row in rows:
        assert set(row) == {"user_id", "currency", "total", "locked", "available"}
        assert isinstance(row["user_id"], int)
        for key in ("total", "locked", "available"):
            assert isinstance(row[key], str) and AMOUNT.match(row[key]), row
        assert Decimal(row["total"]) == Decimal(row["locked"]) + Decimal(row["available"])
    stored = {
        (u, c): t
        for u, c, t in query(
            exchange,
            "select user_id, currency, total from sim.me_registry"
            " where business_date = '2026-11-01'",
        )
    }
    assert {(r["user_id"], r["currency"]): Decimal(r["total"]) for r in rows} == stored


def test_engine_refuses_instants_that_end_no_generated_date(sims):
    for as_of, status in (
        ("2026-11-02T00:00:01Z", 400),
        ("2026-11-02T00:00:00", 400),
        ("yesterday", 400),
        ("", 400),
        ("2026-12-02T00:00:00Z", 404),
    ):
        code, body = get(f"{sims.me_url}/v1/registry/snapshot?as_of={as_of}", token=None)
        assert code == status and body["error"], as_of


def test_engine_and_custody_include_credits_posted_before_the_snapshot(sims, exchange):
    user, currency, total = query(
        exchange,
        """select user_id, currency, total from sim.me_registry
           where business_date = '2026-11-02' and currency = 'BTC' order by user_id limit 1""",
    )[0]
    journal = str(uuid.uuid4())
    query(
        exchange,
        """insert into exchange.ledger_entries (journal_id, user_id, account, currency, amount,
               reference_type, reference_id, reason, business_date, effective_at, created_by)
           values (%(j)s, %(u)s, 'user', 'BTC', 0.125, 'admin_adjustment', 'k1', 'test',
                   '2026-11-02', '2026-11-02T10:00:00Z', 'test'),
                  (%(j)s, null, 'house:adjustments', 'BTC', -0.125, 'admin_adjustment', 'k1',
                   'test', '2026-11-02', '2026-11-02T10:00:00Z', 'test')""",
        {"j": journal, "u": user},
    )
    rows = snapshot(sims, LAST_END)[1:]
    row = next(r for r in rows if r["user_id"] == user and r["currency"] == currency)
    assert Decimal(row["total"]) == total + Decimal("0.125")
    # An earlier snapshot does not see it.
    earlier = snapshot(sims, "2026-11-02T00:00:00Z")[1:]
    stored = query(
        exchange,
        "select total from sim.me_registry where business_date = '2026-11-01'"
        " and user_id = %s and currency = 'BTC'",
        (user,),
    )
    match = [r for r in earlier if r["user_id"] == user and r["currency"] == "BTC"]
    assert [Decimal(r["total"]) for r in match] == [t for (t,) in stored]
    # Custody follows the last snapshot served: 2026-11-01 now, without the credit.
    wallets = query(
        exchange,
        "select coin, wallet_id from exchange.custody_wallets where currency = 'BTC'",
    )
    owned = query(
        exchange,
        "select sum(total) * 10 ^ 8 from sim.me_registry"
        " where business_date = %s and currency = 'BTC'",
        ("2026-11-01",),
    )[0][0]
    balances = [
        int(get(f"{sims.custody_url}/api/v2/{c}/wallet/{w}")[1]["balanceString"])
        for c, w in wallets
    ]
    assert sum(balances) == owned
    snapshot(sims, LAST_END)
    owned = query(
        exchange,
        "select sum(total) * 10 ^ 8 from sim.me_registry"
        " where business_date = %s and currency = 'BTC'",
        ("2026-11-02",),
    )[0][0]
    balances = [
        int(get(f"{sims.custody_url}/api/v2/{c}/wallet/{w}")[1]["balanceString"])
        for c, w in wallets
    ]
    assert sum(balances) == owned + 12_500_000


def test_custody_answers_bitgo_shape_and_refuses_bad_tokens(sims, exchange):
    coin, wallet_id, currency = query(
        exchange, "select coin, wallet_id, currency from exchange.custody_wallets limit 1"
    )[0]
    url = f"{sims.custody_url}/api/v2/{coin}/wallet/{wallet_id}"
    status, body = get(url)
    assert status == 200
    assert body["id"] == wallet_id and body["coin"] == coin
    for key in ("balanceString", "confirmedBalanceString", "spendableBalanceString"):
        assert re.fullmatch(r"\d+", body[key])
    # Before any snapshot: as of the end of the last generated date.
    stored = query(
        exchange,
        "select balance_units from sim.custody_wallet_balances"
        " where business_date = '2026-11-02' and wallet_id = %s",
        (wallet_id,),
    )[0][0]
    assert int(body["balanceString"]) == stored
    assert get(url, token=None)[0] == 401
    assert get(url, token="wrong")[0] == 401
    assert get(url, token=TOKEN + "x")[0] == 401
    assert get(f"{sims.custody_url}/api/v2/{coin}/wallet/0000", token=TOKEN)[0] == 404
    assert get(f"{sims.custody_url}/api/v2/{coin}/wallet/{FAILING_WALLET_ID}")[0] == 500
    sims.custody_fail = True
    assert get(url)[0] == 500
    sims.custody_fail = False
    assert get(url)[0] == 200


def test_rpc_answers_total_staked(sims, exchange):
    positions = query(
        exchange, "select amount, staked_at, unstaked_at from exchange.staking_positions"
    )
    end = Cutover.parse("00:00 UTC").window(date(2026, 11, 2))[1]
    expected = sum(a for a, s, u in positions if s < end and (u is None or u >= end))
    reply = rpc(
        sims, "eth_call", [{"to": POOL.upper().replace("0X", "0x"), "data": "0x817b1cd2"}, "latest"]
    )
    assert re.fullmatch(r"0x[0-9a-f]{64}", reply["result"])
    assert int(reply["result"], 16) == int(expected * 10**18)
    assert rpc(sims, "eth_chainId")["result"] == "0x539"
    assert int(rpc(sims, "eth_blockNumber")["result"], 16) > 0
    assert rpc(sims, "eth_foo")["error"]["code"] == -32601
    wrong_to = rpc(sims, "eth_call", [{"to": "0x" + "2" * 40, "data": "0x817b1cd2"}, "latest"])
    assert "reverted" in wrong_to["error"]["message"]
    wrong_data = rpc(sims, "eth_call", [{"to": POOL, "data": "0x12345678"}, "latest"])
    assert "reverted" in wrong_data["error"]["message"]


def staked_at_end(exchange, day: date) -> int:
    """totalStaked() at the end of a date, from the positions (base units)."""
    positions = query(
        exchange, "select amount, staked_at, unstaked_at from exchange.staking_positions"
    )
    end = Cutover.parse("00:00 UTC").window(day)[1]
    return int(sum(a for a, s, u in positions if s < end and (u is None or u >= end)) * 10**18)


def test_rpc_keeps_history_by_block(sims, exchange):
    call = {"to": POOL, "data": "0x817b1cd2"}
    first_end = int(Cutover.parse("00:00 UTC").window(date(2026, 11, 1))[1].timestamp())
    at_end = first_end // 12  # 12-second blocks from the epoch: one is stamped at the end
    head = int(rpc(sims, "eth_blockNumber")["result"], 16)
    assert head == int(Cutover.parse("00:00 UTC").window(date(2026, 11, 2))[1].timestamp()) // 12
    for block, stamp in ((at_end - 1, first_end - 12), (at_end, first_end), (head, None)):
        reply = rpc(sims, "eth_getBlockByNumber", [hex(block), False])["result"]
        assert reply["number"] == hex(block)
        if stamp is not None:
            assert int(reply["timestamp"], 16) == stamp
    assert rpc(sims, "eth_getBlockByNumber", [hex(head + 1), False])["result"] is None
    first, second = (
        staked_at_end(exchange, date(2026, 11, 1)),
        staked_at_end(exchange, date(2026, 11, 2)),
    )
    assert first != second
    # the last block of 11-01 holds 11-01's total; the block stamped at its end is 11-02's
    assert int(rpc(sims, "eth_call", [call, hex(at_end - 1)])["result"], 16) == first
    assert int(rpc(sims, "eth_call", [call, hex(at_end)])["result"], 16) == second
    assert int(rpc(sims, "eth_call", [call, "latest"])["result"], 16) == second
    assert int(rpc(sims, "eth_call", [call, hex(12)])["result"], 16) == 0  # before the first date
    assert rpc(sims, "eth_call", [call, hex(head + 1)])["error"]["message"] == "header not found"


@pytest.mark.parametrize("fault", ["malformed", "negative", "duplicate", "unknown-currency"])
def test_engine_faults(sims, fault):
    sims.me_fault = fault
    with urllib.request.urlopen(f"{sims.me_url}/v1/registry/snapshot?as_of={LAST_END}") as r:
        lines = r.read().decode().splitlines()
    clean_count = len(snapshot_without_fault(sims))
    if fault == "malformed":
        with pytest.raises(ValueError):
            [json.loads(line) for line in lines]
        return
    rows = [json.loads(line) for line in lines[1:]]
    keys = [(r["user_id"], r["currency"]) for r in rows]
    if fault == "negative":
        assert any(Decimal(r["total"]) < 0 for r in rows)
    elif fault == "duplicate":
        assert len(keys) == len(set(keys)) + 1 == clean_count + 1
    else:
        assert "ZZZ" in {c for _, c in keys} and len(rows) == clean_count + 1


def snapshot_without_fault(handle) -> list[dict]:
    fault, handle.me_fault = handle.me_fault, None
    try:
        return snapshot(handle, LAST_END)[1:]
    finally:
        handle.me_fault = fault


def test_suspension_event_cancels_open_orders(sims, nats_url, exchange):
    rows = snapshot(sims, LAST_END)[1:]
    user = next(r["user_id"] for r in rows if Decimal(r["locked"]) > 0)

    async def publish():
        nc = await nats.connect(nats_url)
        payload = {"event_id": str(uuid.uuid4()), "user_id": user, "to_state": "suspended"}
        await nc.publish("account.suspended", json.dumps(payload).encode())
        await nc.flush()
        await nc.close()

    asyncio.run(publish())
    deadline = time.monotonic() + 10
    while True:
        mine = [r for r in snapshot(sims, LAST_END)[1:] if r["user_id"] == user]
        if all(r["locked"] == "0" for r in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert mine and all(r["locked"] == "0" and r["available"] == r["total"] for r in mine)
    # Kept in the database: a restarted engine still shows it.
    sims.stop()
    with start_simulators(exchange, custody_token=TOKEN) as again:
        mine = [r for r in snapshot(again, LAST_END)[1:] if r["user_id"] == user]
        assert all(r["locked"] == "0" for r in mine)


def test_restriction_cancels_open_orders_through_nats(sims, exchange, eod_env):
    """A sanctions hit with EOD_SANCTIONS_ACTION=restrict and a closure request each move
    an account to restricted; the outbox relays account.restricted over NATS and the
    engine cancels those accounts' open orders, and no one else's."""
    registry = query(
        exchange,
        """select r.user_id, r.currency, r.total, r.locked from sim.me_registry as r
           join exchange.users as u on r.user_id = u.user_id
           where r.business_date = '2026-11-02' and u.status = 'active'""",
    )
    locked_users = sorted({u for u, _, _, locked in registry if locked > 0})
    sanctioned, closing, untouched = locked_users[:3]
    env = {**eod_env, "EOD_SANCTIONS_ACTION": "restrict"}
    hit = ["--kind", "sanctions", "--actor", "screening", "--reason", "OFAC match"]
    run_eod(["account", "compliance-hit", "--user", str(sanctioned), *hit], env)
    run_eod(["account", "request-closure", "--user", str(closing)], env)
    assert query(
        exchange,
        "select user_id, status::text from exchange.users where user_id in (%s, %s) order by 1",
        (sanctioned, closing),
    ) == sorted([(sanctioned, "restricted"), (closing, "restricted")])
    run_eod(["outbox", "relay", "--once"], env)

    def served(user: int) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        return {
            r["currency"]: (Decimal(r["total"]), Decimal(r["locked"]), Decimal(r["available"]))
            for r in snapshot(sims, LAST_END)[1:]
            if r["user_id"] == user
        }

    def stored(user: int, cancelled: bool) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        return {
            c: (t, Decimal(0), t) if cancelled else (t, locked, t - locked)
            for u, c, t, locked in registry
            if u == user
        }

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if served(sanctioned) == stored(sanctioned, True) and served(closing) == stored(
            closing, True
        ):
            break
        time.sleep(0.2)
    assert served(sanctioned) == stored(sanctioned, True)
    assert served(closing) == stored(closing, True)
    assert served(untouched) == stored(untouched, False)
    assert query(
        exchange,
        "select user_id, subject from sim.me_cancelled_orders where user_id in %s order by 1",
        ((sanctioned, closing, untouched),),
    ) == [(sanctioned, "account.restricted"), (closing, "account.restricted")]


def test_export_writes_the_same_ndjson(sims, exchange, eod_env, tmp_path):
    run_eod(["simulate", "export", "--dir", str(tmp_path / "out"), "--date", "2026-11-01"], eod_env)
    written = (tmp_path / "out" / "2026-11-01.ndjson").read_text().splitlines()
    served = snapshot(sims, "2026-11-02T00:00:00Z")
    assert [json.loads(line) for line in written] == served
    proc = run_eod(
        ["simulate", "export", "--dir", str(tmp_path / "x"), "--date", "2027-01-01"],
        eod_env,
        check=False,
    )
    assert proc.returncode != 0 and "2027-01-01" in proc.stderr


def test_simulate_command_prints_urls_and_stops_cleanly(exchange, eod_env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "eod.cli", "simulate", "--no-nats", "--custody-token", TOKEN],
        env=eod_env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        urls = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(5))
        assert urls["EOD_CUSTODY_TOKEN"] == TOKEN
        with urllib.request.urlopen(
            f"{urls['EOD_ME_URL']}/v1/registry/snapshot?as_of={LAST_END}"
        ) as r:
            assert json.loads(r.readline())["as_of"] == LAST_END
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "stopped" in out


def test_copy_lines_are_unescaped_and_gathered_in_blocks():
    from eod.devkit.simulators.registry import _Lines

    blocks: list[bytes] = []
    lines = _Lines(blocks.append, size=40)
    # COPY's text format doubles a backslash; the JSON line holds a single one.
    lines.write(b'{"currency": "A\\\\"B"}\n')
    lines.write(b'{"currency": "C"}\n')
    lines.write(b'{"currency": "D"}\n')
    lines.flush()
    assert b"".join(blocks) == b'{"currency": "A\\"B"}\n{"currency": "C"}\n{"currency": "D"}\n'
    assert len(blocks) == 2
