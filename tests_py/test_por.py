"""Proof of reserves: the encoding against an independent implementation, the
streaming tree against a naive one, publishing from Postgres, and the CLI."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import date
from decimal import Decimal

import psycopg2
import pytest

from eod.por import (
    EMPTY_HASH,
    ProofError,
    Root,
    TreeBuilder,
    base_units,
    build_proof_of_reserves,
    check_published,
    merkle_root,
    prove,
    verify_proof,
)
from eod.por_key import store_por_key
from tests_py.conftest import run_eod

SECRET = "por-test-secret"
D = date(2026, 3, 14)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hand_leaf(user_id: int, currency: str, units: int, day: str = "2026-03-14") -> str:
    n = hmac.new(SECRET.encode(), f"{day}:{user_id}".encode(), hashlib.sha256).hexdigest()
    return sha(f"leaf|{n}|{user_id}|{currency}|{units}")


def naive_tree(leaves: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """Every level, bottom first, padded leaf by leaf (a second, simple implementation)."""
    level = sorted(leaves)
    size = 1
    while size < len(level):
        size *= 2
    level = level + [("0" * 64, 0)] * (size - len(level))
    levels = [level]
    while len(level) > 1:
        level = [
            (sha(f"node|{lh}|{ls}|{rh}|{rs}"), ls + rs)
            for (lh, ls), (rh, rs) in zip(level[0::2], level[1::2], strict=True)
        ]
        levels.append(level)
    return levels


def naive_path(levels, index: int) -> list[dict]:
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        side = "left" if sibling < index else "right"
        path.append({"side": side, "hash": level[sibling][0], "sum": level[sibling][1]})
        index //= 2
    return path


def test_three_leaves_by_hand():
    a = (hand_leaf(1, "BTC", 150000000), 150000000)
    b = (hand_leaf(2, "BTC", 0), 0)
    c = (hand_leaf(3, "BTC", 42), 42)
    l0, l1, l2 = sorted([a, b, c])
    left = sha(f"node|{l0[0]}|{l0[1]}|{l1[0]}|{l1[1]}")
    right = sha(f"node|{l2[0]}|{l2[1]}|{'0' * 64}|0")
    root = sha(f"node|{left}|{l0[1] + l1[1]}|{right}|{l2[1]}")
    assert merkle_root(sorted([a, b, c])) == Root(root, 150000042, 3)


def test_empty_tree_is_one_empty_leaf():
    assert merkle_root([]) == Root(EMPTY_HASH, 0, 0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17])
def test_streaming_tree_and_paths_match_the_naive_tree(n):
    leaves = sorted((sha(f"x{i}"), i * 10) for i in range(n))
    levels = naive_tree(leaves)
    for target in range(n):
        builder = TreeBuilder()
        for i, (h, s) in enumerate(leaves):
            builder.push(h, s, target=i == target)
        root = builder.finish()
        assert (root.hash, root.sum) == levels[-1][0]
        assert [p.as_json() for p in builder.path] == naive_path(levels, target)


def test_negative_leaf_is_refused_and_base_units_clamp():
    with pytest.raises(ValueError):
        TreeBuilder().push("0" * 64, -1)
    assert base_units(Decimal("-5"), 8) == 0
    assert base_units(Decimal("1.5"), 8) == 150000000
    assert base_units(Decimal("0.000000000000000001"), 18) == 1


def hand_proof(user_id: int = 3) -> dict:
    balances = {1: 150000000, 2: 0, 3: 42, 4: 7, 5: 99}
    leaves = sorted((hand_leaf(u, "BTC", units), units) for u, units in balances.items())
    levels = naive_tree(leaves)
    mine = hand_leaf(user_id, "BTC", balances[user_id])
    index = [h for h, _ in leaves].index(mine)
    nonce = hmac.new(SECRET.encode(), f"2026-03-14:{user_id}".encode(), hashlib.sha256)
    return {
        "business_date": "2026-03-14",
        "currency": "BTC",
        "user_id": user_id,
        "nonce": nonce.hexdigest(),
        "units": balances[user_id],
        "leaf_hash": mine,
        "path": naive_path(levels, index),
        "root_hash": levels[-1][0][0],
        "root_sum": levels[-1][0][1],
    }


def test_pure_verifier_accepts_a_hand_made_proof():
    proof = hand_proof()
    assert verify_proof(proof) == Root(proof["root_hash"], 150000148, 0)
    published = Root(proof["root_hash"], 150000148, 5)
    assert check_published(proof, published).hash == proof["root_hash"]


def _tamper(proof: dict, how: str) -> dict:
    bad = copy.deepcopy(proof)
    if how == "units":
        bad["units"] += 1
    elif how == "sibling_sum":
        bad["path"][0]["sum"] += 1
    elif how == "side":
        bad["path"][1]["side"] = "left" if bad["path"][1]["side"] == "right" else "right"
    elif how == "root":
        bad["root_hash"] = "f" * 64
    elif how == "negative":
        bad["path"][0]["sum"] = -5
    elif how == "nonce":
        bad["nonce"] = "0" * 64
    elif how == "missing":
        del bad["path"]
    return bad


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("units", "is not the hash of the leaf"),
        ("sibling_sum", "the path leads to root"),
        ("side", "the path leads to root"),
        ("root", "not to root_hash"),
        ("negative", "path[0].sum is negative"),
        ("nonce", "is not the hash of the leaf"),
        ("missing", "proof has no path"),
    ],
)
def test_pure_verifier_rejects_tampering(how, reason):
    with pytest.raises(ProofError) as err:
        verify_proof(_tamper(hand_proof(), how))
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_published_root_must_match():
    proof = hand_proof()
    with pytest.raises(ProofError, match="is not the published root"):
        check_published(proof, Root("a" * 64, proof["root_sum"], 5))
    with pytest.raises(ProofError, match="no proof of reserves is published"):
        check_published(proof, None)


# --- from Postgres -------------------------------------------------------------------

SNAPSHOT = [
    (1, "BTC", "1.5"),
    (2, "BTC", "0"),
    (3, "BTC", "0.00000042"),
    (4, "BTC", "-0.1"),  # negative: enters as 0
    (5, "BTC", "2"),
    (1, "ETH", "1.000000000000000001"),
]


def load_snapshot(db_url: str) -> None:
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.executemany(
            "insert into exchange.currencies (currency, decimals) values (%s, %s)",
            [("BTC", 8), ("ETH", 18), ("USDT", 6)],
        )
        store_por_key(conn, SECRET)
        cur.execute(
            """create table if not exists marts.user_balance_snapshots (
                   business_date date, user_id bigint, currency text, total numeric(38, 18),
                   locked numeric(38, 18), available numeric(38, 18), leaf_hash text)"""
        )
        for user_id, currency, total in SNAPSHOT:
            cur.execute(
                """insert into marts.user_balance_snapshots
                   select %s, %s, %s, %s::numeric, 0, %s::numeric,
                          eod.por_leaf_hash(%s, %s, %s,
                              trunc(greatest(%s::numeric, 0) * power(10::numeric, decimals)))
                   from exchange.currencies where currency = %s""",
                (D, user_id, currency, total, total, D, user_id, currency, total, currency),
            )
        cur.executemany(
            """insert into eod.custody_balances (business_date, currency, coin, wallet_id,
                   balance_units) values (%s, %s, %s, %s, %s)""",
            [(D, "BTC", "btc", "w1", 300000000), (D, "BTC", "btc", "w2", 50000042)],
        )
    conn.close()


UNITS = {"BTC": {1: 150000000, 2: 0, 3: 42, 4: 0, 5: 200000000}, "ETH": {1: 10**18 + 1}}


def published(db_url: str) -> list[tuple]:
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            """select currency, root_hash, root_sum, leaf_count, custody_balance, reserve_ratio
               from marts.proof_of_reserves where business_date = %s order by currency""",
            (D,),
        )
        rows = cur.fetchall()
    conn.close()
    return rows


def test_build_publishes_roots_that_an_outsider_reproduces(db_url):
    load_snapshot(db_url)
    build_proof_of_reserves(db_url, D)
    build_proof_of_reserves(db_url, D)  # idempotent: replaces D
    expected = {}
    for currency, units in UNITS.items():
        levels = naive_tree([(hand_leaf(u, currency, n), n) for u, n in units.items()])
        expected[currency] = levels[-1][0]
    rows = published(db_url)
    assert [r[0] for r in rows] == ["BTC", "ETH", "USDT"]
    btc, eth, usdt = rows
    assert (btc[1], btc[2], btc[3]) == (*expected["BTC"], 5)
    assert btc[2] == 350000042
    assert btc[4] == Decimal("3.50000042")
    assert btc[5] == Decimal(1)  # custody 3.50000042 / liabilities 3.50000042
    assert (eth[1], eth[2], eth[3], eth[4], eth[5]) == (*expected["ETH"], 1, None, None)
    assert (usdt[1], usdt[2], usdt[3], usdt[4], usdt[5]) == (EMPTY_HASH, 0, 0, None, None)


def test_prove_gives_the_naive_path(db_url):
    load_snapshot(db_url)
    build_proof_of_reserves(db_url, D)
    proof = prove(db_url, D, 3, "BTC", SECRET)
    leaves = sorted((hand_leaf(u, "BTC", n), n) for u, n in UNITS["BTC"].items())
    levels = naive_tree(leaves)
    mine = hand_leaf(3, "BTC", 42)
    assert proof["leaf_hash"] == mine and proof["units"] == 42
    assert proof["path"] == naive_path(levels, [h for h, _ in leaves].index(mine))
    assert (proof["root_hash"], proof["root_sum"]) == levels[-1][0]
    assert list(proof) == [
        "business_date",
        "currency",
        "user_id",
        "nonce",
        "units",
        "leaf_hash",
        "path",
        "root_hash",
        "root_sum",
    ]
    verify_proof(proof)


def test_prove_refuses_unknown_user_and_wrong_secret(db_url):
    load_snapshot(db_url)
    build_proof_of_reserves(db_url, D)
    from eod.errors import ConfigError, InputError

    with pytest.raises(InputError, match="user 99 has no BTC balance on 2026-03-14"):
        prove(db_url, D, 99, "BTC", SECRET)
    with pytest.raises(ConfigError, match="not made with this EOD_POR_SECRET"):
        prove(db_url, D, 3, "BTC", "another-secret")
    with pytest.raises(InputError, match="no proof of reserves is published"):
        prove(db_url, date(2026, 3, 15), 3, "BTC", SECRET)


def test_cli_prove_and_verify(db_url, eod_env, tmp_path):
    load_snapshot(db_url)
    build_proof_of_reserves(db_url, D)
    env = {**eod_env, "EOD_POR_SECRET": SECRET}
    out = run_eod(["por", "prove", "--date", "2026-03-14", "--user", "5", "--currency", "BTC"], env)
    proof = json.loads(out.stdout)
    assert proof["units"] == 200000000 and proof["leaf_hash"] == hand_leaf(5, "BTC", 200000000)
    good = tmp_path / "proof.json"
    good.write_text(out.stdout)
    ok = run_eod(["por", "verify", str(good)], env)
    assert ok.stdout.startswith("proof verified: user 5 BTC 200000000 units on 2026-03-14")

    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps({**proof, "units": 300000000}))
    failed = run_eod(["por", "verify", str(bad)], env, check=False)
    assert failed.returncode != 0
    assert failed.stderr.strip().count("\n") == 0
    assert "is not the hash of the leaf" in failed.stderr

    # a self-consistent proof of another tree is refused against the published root
    forged = hand_proof()
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    refused = run_eod(["por", "verify", str(forged_file)], env, check=False)
    assert refused.returncode != 0 and "is not the published root" in refused.stderr


def test_bench_tree_builds_the_tree_of_its_synthetic_leaves(db_url):
    from eod.devkit.bench.por import bench_tree

    figures = bench_tree(db_url, 37)
    leaves = sorted(
        (hashlib.sha256(i.to_bytes(8, "big")).hexdigest(), i % 100000000) for i in range(1, 38)
    )
    assert (figures["root_hash"], figures["root_sum"]) == naive_tree(leaves)[-1][0]


def test_build_without_snapshots_says_so(db_url):
    from eod.errors import EodError

    with pytest.raises(EodError, match="marts.user_balance_snapshots does not exist"):
        build_proof_of_reserves(db_url, D)
