"""Sealed closes (CONTRACT section 6a): each completed close of D is sealed into
`eod.close_seals`, chained to the seal of the date before, with digests over D's
proof-of-reserves roots, marts rows and counted ledger entries in a canonical order
anyone can recompute (`canonical`); `chain` writes seals and verifies them.
"""

from eod.seal.chain import Seal, SealConflict, VerifyReport, seal_close, verify

__all__ = ["Seal", "SealConflict", "VerifyReport", "seal_close", "verify"]
