"""Postgres binary COPY rows built with numpy, for the millions of trade legs.

Text COPY of a trade leg costs Python string formatting and server-side parsing of a
uuid, a numeric, a date and a timestamp per row; on a small machine both compete for
the same cores. In binary form a batch of rows whose variable-length fields have the
same lengths is one numpy structured array, written with a single `tobytes()`.
Layouts follow the Postgres binary COPY format: a signature header, per row a field
count and (length, big-endian value) per field, and a -1 trailer.
"""

from __future__ import annotations

from datetime import date

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
PG_EPOCH_DAY = date(2000, 1, 1).toordinal()

# A numeric as 7 base-10000 digits: 4 before the point (up to 10^16), 3 after it (12
# decimals). Leading and trailing zero digits are allowed; the server strips them.
NUMERIC_DIGITS = 7
_NUMERIC_WEIGHT = 3
_NUMERIC_DSCALE = 12
_NUMERIC_NEG = 0x4000


def numeric_dtype() -> list[tuple]:
    return [
        ("len", ">i4"),
        ("ndigits", ">i2"),
        ("weight", ">i2"),
        ("sign", ">u2"),
        ("dscale", ">u2"),
        ("digits", ">i2", (NUMERIC_DIGITS,)),
    ]


def fill_numeric(field: np.ndarray, units: np.ndarray, unit_decimals, negative) -> None:
    """Write |units| * 10^-unit_decimals (unit_decimals <= 12) into a numeric field."""
    div = 10 ** np.asarray(unit_decimals, dtype=np.int64)
    whole, frac = np.divmod(units, div)
    frac12 = frac * (10**_NUMERIC_DSCALE // div)
    field["len"] = 8 + 2 * NUMERIC_DIGITS
    field["ndigits"] = NUMERIC_DIGITS
    field["weight"] = _NUMERIC_WEIGHT
    field["sign"] = np.where(negative, _NUMERIC_NEG, 0)
    field["dscale"] = _NUMERIC_DSCALE
    digits = field["digits"]
    digits[:, 0] = whole // 10**12 % 10_000
    digits[:, 1] = whole // 10**8 % 10_000
    digits[:, 2] = whole // 10**4 % 10_000
    digits[:, 3] = whole % 10_000
    digits[:, 4] = frac12 // 10**8
    digits[:, 5] = frac12 // 10**4 % 10_000
    digits[:, 6] = frac12 % 10_000


def ascii_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers of exactly `width` decimal digits as ASCII bytes."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + 48).astype(np.uint8)


def digit_count(values: np.ndarray) -> np.ndarray:
    count = np.ones(len(values), dtype=np.int64)
    bound = 10
    while (values >= bound).any():
        count += values >= bound
        bound *= 10
    return count
