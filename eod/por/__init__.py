"""Proof of reserves (CONTRACT section 7): a Merkle sum tree per (date, currency).

`build_proof_of_reserves` publishes the roots in `marts.proof_of_reserves`; `prove`
gives one user's path; `verify_proof` checks a proof with no database at all.
"""

from eod.por.build import build_proof_of_reserves, prove, published_root
from eod.por.encoding import EMPTY_HASH, base_units, leaf_hash, node_hash, nonce
from eod.por.tree import PathStep, Root, TreeBuilder, merkle_root
from eod.por.verify import ProofError, check_published, verify_proof

__all__ = [
    "EMPTY_HASH",
    "PathStep",
    "ProofError",
    "Root",
    "TreeBuilder",
    "base_units",
    "build_proof_of_reserves",
    "check_published",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "nonce",
    "prove",
    "published_root",
    "verify_proof",
]
