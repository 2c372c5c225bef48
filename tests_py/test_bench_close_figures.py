"""The close bench's step wall time: steps that ran side by side count once."""

from __future__ import annotations

from eod.devkit.bench.close import _covered


def test_overlapping_steps_count_once():
    # 0-10 and 2-5 overlap (10 s), 8-12 extends it to 12, 20-21 adds 1
    assert _covered([(20, 21), (0, 10), (2, 5), (8, 12)]) == 13


def test_no_steps_take_no_time():
    assert _covered([]) == 0
