"""Storing the proof-of-reserves key where SQL can use it but dbt never sees it.

The leaf hashes of `user_balance_snapshots` are computed in SQL from per-user nonces
that `eod.por_nonces`, a SECURITY DEFINER function, derives from `eod.por_key`. That table
holds the two HMAC-SHA256 pads derived from EOD_POR_SECRET (key padded to the
64-byte block, xor 0x36 and 0x5c), never the secret itself, so neither compiled SQL
nor dbt's logs and artifacts contain it. The close calls `store_por_key` before dbt.
"""

from __future__ import annotations

import hashlib

import psycopg2

from eod.errors import ConfigError

BLOCK_SIZE = 64  # SHA-256 block size in bytes


def hmac_pads(secret: str) -> tuple[bytes, bytes]:
    """The (inner, outer) HMAC-SHA256 pads of a key, as in RFC 2104."""
    key = secret.encode("utf-8")
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def store_por_key(conn, secret: str | None) -> None:
    """Write the pads of `secret` as key 1 (replacing any earlier key) in conn's transaction."""
    if not secret:
        raise ConfigError("EOD_POR_SECRET is empty: the proof of reserves needs a key")
    inner, outer = hmac_pads(secret)
    with conn.cursor() as cur:
        # delete + insert rather than an upsert: the close's role may write the key
        # but not read it, and ON CONFLICT DO UPDATE would need to read it
        cur.execute("delete from eod.por_key")
        cur.execute(
            "insert into eod.por_key (key_id, inner_pad, outer_pad) values (1, %s, %s)",
            (psycopg2.Binary(inner), psycopg2.Binary(outer)),
        )
