"""Reading the matching engine's NDJSON registry, streamed in blocks of whole lines.

Amounts must be JSON strings holding a plain decimal (`"1.5"`, `"-0.25"`, `"7"`):
the contract sends decimal strings, and a JSON number (`1.5`, `1e-5`) has already
been through a binary float in most producers, so it is refused rather than guessed
at. Negative amounts parse here and are refused by validation, which counts them.
Blank lines are ignored. Line numbers count from 1 (the header), blank lines included.

A block whose every line has the exact shape the engine writes is turned into COPY
text by a few C-level calls; any other block goes line by line through `parse_row`,
which decides what a line means and names its fault.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson

from eod.capture.http import fault
from eod.errors import InputError, ServiceError

_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Codes only: they go into COPY's text format, where tabs and backslashes are syntax.
_CURRENCY = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
AMOUNT_FIELDS = ("total", "locked", "available")
# The longest line read: a balance line is under 200 bytes.
MAX_LINE_BYTES = 64 * 1024


def _load(line_no: int, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InputError(f"registry line {line_no}: not UTF-8 text") from None
    except ValueError as exc:
        raise InputError(f"registry line {line_no}: malformed JSON ({exc.msg})") from None


def parse_header(raw: bytes, expected_as_of: datetime) -> tuple[datetime, int]:
    """(as_of, sequence) of the first line; as_of must be the end of the business date."""
    header = _load(1, raw)
    if not isinstance(header, dict):
        raise InputError("registry line 1: the header must be a JSON object")
    for name in ("as_of", "sequence"):
        if name not in header:
            raise InputError(f"registry line 1: header has no {name!r}")
    sequence = header["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise InputError(f"registry line 1: sequence must be a whole number, got {sequence!r}")
    text = header["as_of"]
    try:
        as_of = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        as_of = None
    if as_of is None or as_of.tzinfo is None:
        raise InputError(f"registry line 1: as_of must be an ISO-8601 instant, got {text!r}")
    if as_of != expected_as_of:
        raise InputError(
            f"registry line 1: as_of {text} is not the end of the business date "
            f"({expected_as_of.isoformat()})"
        )
    return as_of, sequence


def parse_row(line_no: int, raw: bytes) -> tuple[int, str, str, str, str]:
    """(user_id, currency, total, locked, available) of a balance line."""
    row = _load(line_no, raw)
    if not isinstance(row, dict):
        raise InputError(f"registry line {line_no}: expected a JSON object")
    for name in ("user_id", "currency", *AMOUNT_FIELDS):
        if name not in row:
            raise InputError(f"registry line {line_no}: missing field {name!r}")
    user_id = row["user_id"]
    if not isinstance(user_id, int) or isinstance(user_id, bool) or abs(user_id) >= 10**18:
        raise InputError(f"registry line {line_no}: user_id must be an integer, got {user_id!r}")
    currency = row["currency"]
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise InputError(f"registry line {line_no}: currency must be a code, got {currency!r}")
    amounts = []
    for name in AMOUNT_FIELDS:
        value = row[name]
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            raise InputError(
                f"registry line {line_no}: {name} must be a decimal string, got {kind} {value!r}"
            )
        if not _AMOUNT.fullmatch(value):
            raise InputError(f"registry line {line_no}: {name} is not a decimal: {value!r}")
        amounts.append(value)
    return user_id, currency, amounts[0], amounts[1], amounts[2]


def _too_long(line_no: int, source: str) -> InputError:
    return InputError(
        f"registry line {line_no} from {source} is longer than {MAX_LINE_BYTES // 1024} KiB:"
        " refused without reading it whole"
    )


def numbered_blocks(
    stream, source: str, block: int = 1 << 16, timeout: float | None = None
) -> Iterator[tuple[int, bytes]]:
    """The stream's lines in blocks of whole lines, each with the number of its first line.

    Every block ends with a newline (a last line without one is given one), so no line
    spans two blocks. A line longer than MAX_LINE_BYTES is refused as soon as that many
    bytes of it arrived: no balance line comes near it, and one of 40 MB must not be
    held in memory. A read that breaks off is a ServiceError naming the matching engine
    and what happened (`eod.capture.http.fault`; `timeout` is the read timeout it
    names): a body cut before its Content-Length or its last chunk must fail, never
    pass for the end of a (short) registry. A cut chunked body raises IncompleteRead,
    and a length-framed one leaves unread bytes announced.
    """
    read = getattr(stream, "read1", stream.read)  # what has arrived, without waiting for more
    line_no = 1
    pending = b""
    while True:
        try:
            data = read(block)
            missing = not data and getattr(stream, "length", None)  # an HTTP body's unread bytes
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise ServiceError(
                f"matching engine registry stream from {source} broke off after line"
                f" {line_no - 1}: {fault(exc, timeout)}"
            ) from None
        if missing:
            raise ServiceError(
                f"matching engine registry stream from {source} broke off after line"
                f" {line_no - 1}: the reply was cut short ({missing} bytes of the announced"
                " length never came)"
            )
        if not data:
            break
        end = data.rfind(b"\n") + 1
        if not end:
            pending += data
            if len(pending) > MAX_LINE_BYTES:
                raise _too_long(line_no, source)
            continue
        first = data.find(b"\n")
        if len(pending) + first > MAX_LINE_BYTES:
            raise _too_long(line_no, source)
        lines, pending = pending + data[:end], data[end:]
        if block > MAX_LINE_BYTES and len(lines) > MAX_LINE_BYTES:
            # reads bigger than a line's limit: look at every line of the block
            for number, raw in enumerate(lines.split(b"\n")):
                if len(raw) > MAX_LINE_BYTES:
                    raise _too_long(line_no + number, source)
        yield line_no, lines
        line_no += lines.count(b"\n")
    if len(pending) > MAX_LINE_BYTES:
        raise _too_long(line_no, source)
    if pending:
        yield line_no, pending + b"\n"


def split_header(
    blocks: Iterable[tuple[int, bytes]],
) -> tuple[bytes | None, Iterator[tuple[int, bytes]]]:
    """The first non-blank line (None if there is none), and the blocks of the lines after it."""
    blocks = iter(blocks)
    for line_no, data in blocks:
        start = 0
        while start < len(data):
            end = data.index(b"\n", start)
            if data[start:end].strip():
                rest = (line_no + 1, data[end + 1 :])
                return data[start:end], itertools.chain([rest], blocks)
            start = end + 1
            line_no += 1
    return None, blocks


_USER_ID_LIMIT = 10**18
_loads = orjson.loads
_is_currency = _CURRENCY.fullmatch
# The three amounts joined by tabs: an amount never holds a tab, so this matches only
# when each of the three is a plain decimal.
_are_amounts = re.compile(rf"{_AMOUNT.pattern}\t{_AMOUNT.pattern}\t{_AMOUNT.pattern}").fullmatch


def _fast_row(line_no: int, raw: bytes) -> str:
    """A valid balance line as its COPY text (`user_id, currency, amounts`, tab-separated),
    in few steps; any other line goes to parse_row, which names its fault.

    Every line of a block that is not all canonical comes here (a registry with CRLF
    endings or other spacing: millions of lines), so the valid case is checked in one
    expression and the messages are only built (by parse_row) for a line that fails
    it. orjson accepts strictly less than the standard library's parser (no NaN, no
    integers past 64 bits), so whatever it lets through parse_row would accept as the
    same row.
    """
    try:
        row = _loads(raw)
        user_id, currency = row["user_id"], row["currency"]
        total, locked, available = row["total"], row["locked"], row["available"]
        if (
            type(user_id) is int
            and -_USER_ID_LIMIT < user_id < _USER_ID_LIMIT
            and type(currency) is str
            and type(total) is str
            and type(locked) is str
            and type(available) is str
            and _is_currency(currency)
        ):
            amounts = f"{total}\t{locked}\t{available}"
            if _are_amounts(amounts):
                return f"{user_id}\t{currency}\t{amounts}"
    except (ValueError, TypeError, KeyError):
        pass
    return "\t".join(map(str, parse_row(line_no, raw)))


# A balance line exactly as the engine writes it (`_LINES_SQL` in eod/simulators/registry.py),
# one per match, its fields captured. Whatever it matches parse_row reads as the same
# fields, as the same text: the values hold no JSON escape, the user id is written the way
# str() writes the integer (no leading zero, no -0, fewer than 19 digits), and the currency
# and the amounts are the patterns parse_row checks. `^` and the final newline make a match
# cover one whole line, so a block is canonical when it has one match per line.
_QUOTED_AMOUNT = f'"({_AMOUNT.pattern})"'.encode()
_CANONICAL_LINE = re.compile(
    rb'^\{"user_id": (0|-?[1-9][0-9]{0,17}), "currency": "('
    + _CURRENCY.pattern.encode()
    + rb')", "total": '
    + _QUOTED_AMOUNT
    + rb', "locked": '
    + _QUOTED_AMOUNT
    + rb', "available": '
    + _QUOTED_AMOUNT
    + rb"\}\n",
    re.MULTILINE,
)


class CopySource:
    """A file-like over the registry's balance lines, in COPY text format, for COPY FROM.

    psycopg2 calls read(); an InputError raised while parsing is kept in `error`
    because psycopg2 replaces it by its own QueryCanceled.
    """

    def __init__(self, blocks: Iterable[tuple[int, bytes]], capture_id: uuid.UUID) -> None:
        self._blocks = iter(blocks)
        self._prefix = f"{capture_id}\t"
        # A row's start with a slot for its line number: a canonical line holds no `%`.
        self._numbered = f"{capture_id}\t%d\t".encode()
        self._buffer = ""
        self.rows = 0
        self.error: BaseException | None = None

    def _copy_text(self, line_no: int, data: bytes) -> str:
        """The COPY rows of a block of whole lines, the first of them line `line_no`."""
        # A registry of another shape (CRLF endings, other spacing) fails on a block's
        # first line, and is then spared a search through the whole block.
        fields = _CANONICAL_LINE.findall(data) if _CANONICAL_LINE.match(data) else ()
        count = len(fields)
        if count and count == data.count(b"\n"):
            # Every line canonical, so none blank: the lines are numbered from line_no on,
            # all in one formatting.
            numbered = self._numbered
            text = numbered + (b"\n" + numbered).join(map(b"\t".join, fields)) + b"\n"
            self.rows += count
            return (text % tuple(range(line_no, line_no + count))).decode("ascii")
        parts = []
        prefix = self._prefix
        for raw in data.split(b"\n"):
            if raw.strip():
                parts.append(f"{prefix}{line_no}\t{_fast_row(line_no, raw)}\n")
            line_no += 1
        self.rows += len(parts)
        return "".join(parts)

    def read(self, size: int = 65536) -> str:
        try:
            if size is None or size < 0:
                size = 1 << 20
            while len(self._buffer) < size:
                block = next(self._blocks, None)
                if block is None:
                    break
                self._buffer += self._copy_text(*block)
            out, self._buffer = self._buffer[:size], self._buffer[size:]
            return out
        except BaseException as exc:
            self.error = exc
            raise
