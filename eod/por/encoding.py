"""The proof-of-reserves encoding of CONTRACT section 7, in plain Python.

Hashes are lowercase hex SHA-256 of UTF-8 text; amounts are integers in base units.
Nothing here touches a database, so an outside verifier can use it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from decimal import ROUND_DOWN, Decimal

EMPTY_HASH = "0" * 64  # an empty (padding) leaf; its sum is 0


def nonce(secret: str, business_date: date | str, user_id: int) -> str:
    """hex HMAC-SHA256(key = secret, message = "D:user_id")."""
    day = business_date if isinstance(business_date, str) else business_date.isoformat()
    message = f"{day}:{user_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def leaf_hash(leaf_nonce: str, user_id: int, currency: str, units: int) -> str:
    """SHA256("leaf|nonce|user_id|currency|units")."""
    text = f"leaf|{leaf_nonce}|{user_id}|{currency}|{units}"
    return hashlib.sha256(text.encode()).hexdigest()


def node_hash(left_hash: str, left_sum: int, right_hash: str, right_sum: int) -> str:
    """SHA256("node|lh|ls|rh|rs")."""
    text = f"node|{left_hash}|{left_sum}|{right_hash}|{right_sum}"
    return hashlib.sha256(text.encode()).hexdigest()


def base_units(total: Decimal, decimals: int) -> int:
    """A balance in base units, negative balances counting as zero (they never enter)."""
    if total <= 0:
        return 0
    scaled = total.scaleb(decimals).quantize(Decimal(1), rounding=ROUND_DOWN)
    return int(scaled)


def empty_subtree_hashes(levels: int) -> list[str]:
    """Hash of an all-padding subtree of each height 0..levels-1 (all sums are 0)."""
    hashes = [EMPTY_HASH]
    for _ in range(1, levels):
        hashes.append(node_hash(hashes[-1], 0, hashes[-1], 0))
    return hashes
