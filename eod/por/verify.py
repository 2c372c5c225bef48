"""Checking a proof (CONTRACT section 7) with nothing but the proof itself.

`verify_proof` recomputes the leaf from (nonce, user_id, currency, units), folds the
path up to the root and compares with the root the proof claims; the caller then
compares that root with the published one. Any mismatch, or a negative sum, raises
ProofError with a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from eod.errors import InputError
from eod.por.encoding import leaf_hash, node_hash
from eod.por.tree import Root

_HEX64 = re.compile(r"[0-9a-f]{64}")
FIELDS = (
    "business_date",
    "currency",
    "user_id",
    "nonce",
    "units",
    "leaf_hash",
    "path",
    "root_hash",
    "root_sum",
)


class ProofError(InputError):
    """A proof that does not hold."""


def _integer(value: Any, what: str) -> int:
    # Integers may come as JSON numbers or as decimal strings (for verifiers whose
    # JSON numbers are doubles); either way they must be whole and not negative.
    if isinstance(value, bool):
        raise ProofError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        value = int(value)
    if not isinstance(value, int):
        raise ProofError(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise ProofError(f"{what} is negative: {value}")
    return value


def _hex(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ProofError(f"{what} must be 64 lowercase hex digits, got {value!r}")
    return value


def verify_proof(proof: Mapping[str, Any]) -> Root:
    """The root the proof leads to, or ProofError. leaf_count of the result is 0."""
    if not isinstance(proof, Mapping):
        raise ProofError("a proof must be a JSON object")
    missing = [name for name in FIELDS if name not in proof]
    if missing:
        raise ProofError("proof has no " + ", ".join(missing))
    try:
        date.fromisoformat(str(proof["business_date"]))
    except ValueError:
        raise ProofError(f"business_date is not YYYY-MM-DD: {proof['business_date']!r}") from None
    user_id = proof["user_id"]
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise ProofError(f"user_id must be an integer, got {user_id!r}")
    currency = proof["currency"]
    if not isinstance(currency, str) or not currency:
        raise ProofError(f"currency must be a code, got {currency!r}")
    units = _integer(proof["units"], "units")
    expected_leaf = leaf_hash(_hex(proof["nonce"], "nonce"), user_id, currency, units)
    if _hex(proof["leaf_hash"], "leaf_hash") != expected_leaf:
        raise ProofError(
            f"leaf_hash {proof['leaf_hash']} is not the hash of the leaf ({expected_leaf})"
        )
    path = proof["path"]
    if not isinstance(path, list):
        raise ProofError("path must be a list")
    current, total = expected_leaf, units
    for level, step in enumerate(path):
        if not isinstance(step, Mapping):
            raise ProofError(f"path[{level}] must be an object")
        sibling = _hex(step.get("hash"), f"path[{level}].hash")
        sibling_sum = _integer(step.get("sum"), f"path[{level}].sum")
        side = step.get("side")
        if side == "left":
            current = node_hash(sibling, sibling_sum, current, total)
        elif side == "right":
            current = node_hash(current, total, sibling, sibling_sum)
        else:
            raise ProofError(f"path[{level}].side must be 'left' or 'right', got {side!r}")
        total += sibling_sum
    root_hash = _hex(proof["root_hash"], "root_hash")
    root_sum = _integer(proof["root_sum"], "root_sum")
    if current != root_hash:
        raise ProofError(f"the path leads to root {current}, not to root_hash {root_hash}")
    if total != root_sum:
        raise ProofError(f"the path sums to {total}, not to root_sum {root_sum}")
    return Root(root_hash, root_sum, 0)


def check_published(proof: Mapping[str, Any], published: Root | None) -> Root:
    """verify_proof, then compare with the published root of (date, currency)."""
    root = verify_proof(proof)
    where = f"{proof['currency']} on {proof['business_date']}"
    if published is None:
        raise ProofError(f"no proof of reserves is published for {where}")
    if published.hash != root.hash:
        raise ProofError(
            f"root_hash {root.hash} is not the published root {published.hash} ({where})"
        )
    if published.sum != root.sum:
        raise ProofError(f"root_sum {root.sum} is not the published sum {published.sum} ({where})")
    return root
