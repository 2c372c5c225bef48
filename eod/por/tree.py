"""A Merkle sum tree built from a stream of leaves in O(log n) memory.

Leaves arrive sorted by hash. A stack holds at most one finished subtree per height
(like the carries of a binary counter), so 3M leaves need ~22 entries, never a level
in memory. Padding to a power of two is done with precomputed all-empty subtrees
instead of millions of empty leaves; the result is the same tree as padding leaf by
leaf. Following one leaf (`target`) records its path of siblings for a proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from eod.por.encoding import EMPTY_HASH, empty_subtree_hashes, node_hash

_EMPTY = empty_subtree_hashes(64)


@dataclass(frozen=True)
class Root:
    hash: str
    sum: int
    leaf_count: int


@dataclass(frozen=True)
class PathStep:
    side: str  # the sibling's side: "left" or "right"
    hash: str
    sum: int

    def as_json(self) -> dict:
        return {"side": self.side, "hash": self.hash, "sum": self.sum}


@dataclass
class TreeBuilder:
    """Push leaves in order, then finish(); `path` is filled for the targeted leaf."""

    _stack: list[list] = field(default_factory=list)  # [height, hash, sum, holds_target]
    leaf_count: int = 0
    path: list[PathStep] = field(default_factory=list)

    def push(self, leaf: str, units: int, target: bool = False) -> None:
        if units < 0:
            raise ValueError(f"a leaf sum cannot be negative, got {units}")
        self.leaf_count += 1
        stack = self._stack
        stack.append([0, leaf, units, target])
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            self._merge()

    def _merge(self) -> None:
        right = self._stack.pop()
        left = self._stack[-1]
        if left[3]:
            self.path.append(PathStep("right", right[1], right[2]))
        elif right[3]:
            self.path.append(PathStep("left", left[1], left[2]))
        left[1] = node_hash(left[1], left[2], right[1], right[2])
        left[2] += right[2]
        left[0] += 1
        left[3] = left[3] or right[3]

    def finish(self) -> Root:
        stack = self._stack
        if not stack:
            return Root(EMPTY_HASH, 0, 0)
        while len(stack) > 1:
            height = stack[-1][0]
            stack.append([height, _EMPTY[height], 0, False])
            while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
                self._merge()
        return Root(stack[0][1], stack[0][2], self.leaf_count)


def merkle_root(leaves: Iterable[tuple[str, int]]) -> Root:
    """Root of leaves already sorted by hash."""
    builder = TreeBuilder()
    for leaf, units in leaves:
        builder.push(leaf, units)
    return builder.finish()
