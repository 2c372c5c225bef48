"""Values in the text COPY format, converted from the generator's integer arrays a
column at a time (numpy does the arithmetic, one `tolist()` per column).

Amounts are written as `<int>.<9 digits>`: every generated unit has at most 9
decimals, so the fraction is exact.
"""

from __future__ import annotations

import numpy as np

from eod.devkit.generate import spec

FRAC = 9
_SCALE = np.array([10 ** (FRAC - c.unit_decimals) for c in spec.CURRENCIES], dtype=np.int64)
_DIV = np.array([10**c.unit_decimals for c in spec.CURRENCIES], dtype=np.int64)
CODES = [c.code for c in spec.CURRENCIES]


def timestamps(us: np.ndarray) -> list[str]:
    """Unix microseconds as ISO-8601 (UTC, without the trailing Z)."""
    return np.datetime_as_string(us.astype("datetime64[us]"), unit="us").tolist()


def split(units: np.ndarray, currency: np.ndarray) -> tuple[list[int], list[int]]:
    """Integer part and 9-digit fraction of non-negative unit counts."""
    whole, frac = np.divmod(units, _DIV[currency])
    return whole.tolist(), (frac * _SCALE[currency]).tolist()


def fixed(ticks: np.ndarray, decimals: np.ndarray) -> tuple[list[int], list[int]]:
    """Integer part and 9-digit fraction of a count of 10^-decimals."""
    whole, frac = np.divmod(ticks, 10 ** decimals.astype(np.int64))
    return whole.tolist(), (frac * 10 ** (FRAC - decimals.astype(np.int64))).tolist()
